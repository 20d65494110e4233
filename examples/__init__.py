"""The example images (credits in README.md beside them), installed with the engine as
package data: `nst bench` measures its default pairs on them."""
