"""The GIMP 3 plug-in, shipped as package data: neural_style/neural_style.py.

GIMP never imports this package; `nst-server install-gimp-plugin` copies the plug-in file
out of it into GIMP's plug-ins folder.
"""
