#!/usr/bin/env python3
"""Fetch the photographs that feed-forward style networks are trained on, from Debian and PyPI.

    python scripts/fetch_training_photos.py [--to DIR]      # prints a one-line summary

No photograph ships with the project, and nothing here is taken from the web at large: every
file comes out of a package, a .deb of Debian's stable release (trixie) downloaded from
deb.debian.org or a wheel that pip downloads from PyPI, each pinned by version and SHA-256, and
each photograph is checked by SHA-256 too, so a rebuild reads byte-identical originals or stops.
Only photographs are listed (no drawing, painting, render or screenshot), each at least 256
pixels on its short side, under a licence that allows redistribution and training, recorded per
file. Each is written as an sRGB JPEG (quality 92) whose short side is at most 512 pixels: to
DIR/train/, and a held-out set never trained on (people, animals, a landscape, a city, an
interior, food, objects, among them two of the photographs scripts/fetch_bench_photos.py fetches,
the fig and the dandelions) to DIR/held-out/; DIR/CREDITS.md says where each came from, its
licence and its author. DIR is ~/.cache/neural-style-gimp/training-photos by default. Run again,
it checks the files against its manifest and downloads nothing.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

from debian_package import deb_files  # beside this script: Python puts its folder on sys.path

from nst_engine.evaluation.training_folder import default_photos_folder

DEBIAN = "http://deb.debian.org/debian/"
SHORT_SIDE = 512  # at most, in pixels
QUALITY = 92
RECIPE = f"sRGB JPEG, short side <= {SHORT_SIDE} px (Lanczos), quality {QUALITY}"
MANIFEST = ".manifest.json"


@dataclass(frozen=True)
class Package:
    name: str  # Debian binary package, or PyPI project
    version: str
    archive: str  # path under DEBIAN, or the wheel's file name (PyPI)
    size: int  # bytes
    sha256: str  # of the archive
    licences: str  # where the package records its files' licences
    folder: str = ""  # prefix of its members below

    @property
    def pypi(self) -> bool:
        return self.archive.endswith(".whl")


# Trixie's versions (Debian 13, stable), which stay in the archive for years.
PACKAGES = {
    "budgie": Package("budgie-backgrounds", "3.0-1",
                      "pool/main/b/budgie-backgrounds/budgie-backgrounds_3.0-1_all.deb", 12169452,
                      "b91c2d5209558bc11d8d3a161f22a608857e3f8c735980cfab0d6650b03014ca",
                      "debian/copyright (Files: *)", "usr/share/backgrounds/budgie/"),
    "lomiri": Package("lomiri-wallpapers-16.04", "20.04.0-4",
                      "pool/main/l/lomiri-wallpapers/lomiri-wallpapers-16.04_20.04.0-4_all.deb",
                      15784080, "f74676719f9d0128e5310e65ef97d596bcece8b6a43524ab8949ee1be0a4f18c",
                      "debian/copyright (one stanza per photograph)", "usr/share/backgrounds/"),
    "mate": Package("mate-backgrounds", "1.26.0-1",
                    "pool/main/m/mate-backgrounds/mate-backgrounds_1.26.0-1_all.deb", 46638500,
                    "7bf4c2209f34b4f61ba6d24c8b58c28b361e82e4b943aae6d42c030169af9e04",
                    "debian/copyright (one stanza per photograph)",
                    "usr/share/backgrounds/mate/nature/"),
    "gcompris": Package("gcompris-qt-data", "25.0.12-1",
                        "pool/main/g/gcompris-qt/gcompris-qt-data_25.0.12-1_all.deb", 43883784,
                        "7312aa5387d4c5a6a1145609db5e8c38e2e2a9056c8b3b9d44e52f12358ac41d",
                        "the activities' credits (ActivityInfo.qml, in the .rcc bundles) and "
                        "debian/copyright", "usr/share/gcompris-qt/rcc/"),
    "palapeli": Package("palapeli-data", "4:25.04.0-1",
                        "pool/main/p/palapeli/palapeli-data_25.04.0-1_all.deb", 2136700,
                        "c1cfb91a853f4a83bea7b5abe7808ccdc452917349bcc3f03460457a5307d0de",
                        "each puzzle's .desktop file (X-KDE-PluginInfo-Author, -License)",
                        "usr/share/palapeli/collection/"),
    "rmagick": Package("ruby-rmagick-doc", "6.0.1-3",
                       "pool/main/r/ruby-rmagick/ruby-rmagick-doc_6.0.1-3_all.deb", 1386648,
                       "6407e89a43ce71684d7f03e8802a7657e2bb7a25066be75abe96241b98d4cef5",
                       "debian/copyright (Files: *)",
                       "usr/share/doc/ruby-rmagick-doc/html/ex/images/"),
    "gramps": Package("gramps", "6.0.1+dfsg-1", "pool/main/g/gramps/gramps_6.0.1+dfsg-1_all.deb",
                      9202988, "40b84af03ba4ff482f8ddb6f0f730a25f24c3e1c4da6dd0beb010c5db6ec3331",
                      "debian/copyright (Files: *)", "usr/share/doc/gramps/example/gramps/"),
    "colorbox": Package("libjs-jquery-colorbox", "1.6.4-1.1",
                        "pool/main/j/jquery-colorbox/libjs-jquery-colorbox_1.6.4-1.1_all.deb",
                        796128, "af10fdea285bbb34ecfb6c464855d1b5b645072c57696968d12166facc85c103",
                        "debian/copyright (Files: *)",
                        "usr/share/doc/libjs-jquery-colorbox/examples/content/"),
    "backstretch": Package("libjs-jquery-backstretch", "2.1.17-4",
                           "pool/main/libj/libjs-jquery-backstretch/"
                           "libjs-jquery-backstretch_2.1.17-4_all.deb", 8541008,
                           "c9c7f74fddbfde20db58a241df9b0a609991532e289f4b187847124ee26cb60a",
                           "debian/copyright (Files: *)",
                           "usr/share/doc/libjs-jquery-backstretch/examples/"),
    "kivy": Package("python-kivy-examples", "2.3.1-1",
                    "pool/main/k/kivy/python-kivy-examples_2.3.1-1_all.deb", 8674564,
                    "f90a0de78e5ffa76bbda3053592115669efe5f0373ab4621d2fc116432a460f6",
                    "debian/copyright (Files: *)", "usr/share/kivy-examples/"),
    "forensics": Package("forensics-samples-files", "1.1.4-5",
                         "pool/main/f/forensics-samples/forensics-samples-files_1.1.4-5_all.deb",
                         30306832,
                         "8710c751be1a71a88e343540ea1a5cab1fd349c2bcdf07626a27cfe68689e7c4",
                         "debian/copyright (Files: original-files/*)",
                         "usr/share/forensics-samples/original-files/"),
    "scribus": Package("scribus-template", "1.2.4.1-7",
                       "pool/main/s/scribus-template/scribus-template_1.2.4.1-7_all.deb", 1789192,
                       "f3fe5768aa4c94e78a08c2b24ae1164c962a120fba08f66464a7cdc4adee47a0",
                       "debian/copyright (the templates by Riku Leino: public domain)",
                       "usr/share/scribus/templates/"),
    "imaging": Package("golang-github-disintegration-imaging-dev", "1.6.2-3",
                       "pool/main/g/golang-github-disintegration-imaging/"
                       "golang-github-disintegration-imaging-dev_1.6.2-3_all.deb", 2210392,
                       "8f41d758b7235b6d9d41a74b4d80ade0d63d53dd5bee29c52618dc525941e88b",
                       "debian/copyright (Files: *)",
                       "usr/share/gocode/src/github.com/disintegration/imaging/testdata/"),
    "skimage": Package("scikit-image", "0.26.0",
                       "scikit_image-0.26.0-cp311-cp311-manylinux_2_24_x86_64.manylinux_2_28_x86_64.whl",
                       13711217, "74aa5518ccea28121f57a95374581d3b979839adc25bb03f289b1bc9b99c58af",
                       "the docstrings of skimage/data/_fetchers.py", "skimage/data/"),
}  # fmt: skip
# The one wheel above, whatever machine runs this (its photographs are the same in every wheel).
WHEEL_TAGS = ("--platform", "manylinux_2_28_x86_64", "--python-version", "3.11",
              "--implementation", "cp", "--abi", "cp311")  # fmt: skip
RCC_FOLDER = "gcompris/src/activities/"  # prefix of the paths inside GCompris's .rcc bundles


@dataclass(frozen=True)
class Photo:
    name: str  # the file written: NAME.jpg
    package: str  # a key of PACKAGES
    member: str  # its path in the package, after its folder; BUNDLE.rcc:PATH inside a Qt bundle
    licence: str
    author: str
    sha256: str  # of the original file
    source: str = ""  # where the author published it, when the package says
    held_out: bool = False  # never trained on

    @property
    def path(self) -> str:
        folder = PACKAGES[self.package].folder
        if ":" in self.member:
            bundle, inner = self.member.split(":", 1)
            return f"{folder}{bundle}:{RCC_FOLDER}{inner}"
        return folder + self.member


PHOTOS = (
    # budgie-backgrounds
    Photo("budgie-abstract-spiral", "budgie", "abstract-spiral.jpg", "CC0-1.0",
          "Budgie Desktop Developers",
          "10070d1f52c14561a87995b13fb55a0143a8d04b27e31885e65d9e230a0a0dc6"),
    Photo("budgie-beacon-street-sunset", "budgie", "beacon-street-sunset.jpg", "CC0-1.0",
          "Budgie Desktop Developers",
          "d77a97bfbb28fa6b2b4c93ad2857894afd38c13f450655942be077118bb9e3f1"),
    Photo("budgie-blue-periwinkle", "budgie", "blue-periwinkle.jpg", "CC0-1.0",
          "Budgie Desktop Developers",
          "0b35d0e6e14766ec21d1d9446dcd34909e0e4e16a80972bb6b2ef26cc0bb4ed0"),
    Photo("budgie-canyon-wren", "budgie", "canyon-wren.jpg", "CC0-1.0", "Budgie Desktop Developers",
          "1576ed3332c11b81ea90bd54acb60cc1e614642094bd972e5f2cde1661374b1f"),
    Photo("budgie-casa-mila", "budgie", "casa-mila.jpg", "CC0-1.0", "Budgie Desktop Developers",
          "5c7b24e463e3ca90cfead8c7fb4a0e0362980e7ff43aa5e877d6a186338977bf"),
    Photo("budgie-extreme-desert-hike", "budgie", "extreme-desert-hike.jpg", "CC0-1.0",
          "Budgie Desktop Developers",
          "beed5bc6a2c99b026f869b588be5e32b0c77adb209535975d0e015eb5e7da839"),
    Photo("budgie-high-trestle-trail", "budgie", "high-trestle-trail.jpg", "CC0-1.0",
          "Budgie Desktop Developers",
          "3fa56b607d41e658acc589b0e8306f96ec4ea33cbd8d5d8d4d8a688585fb1fe2"),
    Photo("budgie-lake-sherburne", "budgie", "lake-sherburne.jpg", "CC0-1.0",
          "Budgie Desktop Developers",
          "85881b53de866a521bd806b481d444b7c3a45eee773eefdffaad46e7fb968470", held_out=True),
    Photo("budgie-oakland-zoo-otters", "budgie", "oakland-zoo-otters.jpg", "CC0-1.0",
          "Budgie Desktop Developers",
          "b7540dd5c076b5b30c37bb9b7c991789d2cd30a9fc6a3205c8896bb5f8b75dbc"),
    Photo("budgie-perched-osprey", "budgie", "perched-osprey.jpg", "CC0-1.0",
          "Budgie Desktop Developers",
          "d57e8d13c898c8abdf99a6429868e02935c4bb23993dfbb1a190136ee396a179"),
    Photo("budgie-piazza-gae-aulenti", "budgie", "piazza-gae-aulenti.jpg", "CC0-1.0",
          "Budgie Desktop Developers",
          "f5a33cc32e1e3c453cfbeb0778f989fb2af704b5a7de2d0dc04f8bb3bb3e588c"),
    Photo("budgie-roman-colosseum", "budgie", "roman-colosseum.jpg", "CC0-1.0",
          "Budgie Desktop Developers",
          "3a085abab563afcdcfc3009fa126bbceb426921dd5bcdbb6f08fb0a601568030"),
    Photo("budgie-singaporean-cityscape", "budgie", "singaporean-cityscape.jpg", "CC0-1.0",
          "Budgie Desktop Developers",
          "f636392cae58e2cfd478838a8e4d3a3aa0b7c1ecf7be77932c394d649f783363", held_out=True),
    Photo("budgie-tea-gardens", "budgie", "tea-gardens.jpg", "CC0-1.0", "Budgie Desktop Developers",
          "1d7377e9903b29a3e983f1184a3112e50a6b45e65382c491f5c02e20e2861e20"),
    # lomiri-wallpapers-16.04
    Photo("lomiri-aitzgorri", "lomiri", "aitzgorri_by_Aitzol_Berasategi.jpg", "CC-BY-4.0",
          "Aitzol Berasategi", "66268e7b48f8854d36a28765fac6e23ec1aee251daa6da1f64715f201020ad36"),
    Photo("lomiri-bridge", "lomiri", "Bridge_by_Sander_Klootwijk.jpg", "CC-BY-SA-4.0",
          "Sander Klootwijk", "bd86b081f9975e2b83527f71e49b9271a8ab40885428395969d9f7d834d7f050"),
    Photo("lomiri-dragonfly", "lomiri", "Dragonfly_by_Bolly.jpg", "CC-BY-SA-4.0", '"Bolly"',
          "af5af17841009732def24b09bb1e669a1b09d2b4bdeee7812c371101c30d2bb3"),
    Photo("lomiri-free", "lomiri", "free_by_Peter_Nerlich.jpg", "CC-BY-SA-4.0", "Peter Nerlich",
          "85a5453c2fed514c75973016f3d862aca62eb7ca087618822469274ac1092373"),
    Photo("lomiri-friends", "lomiri", "friends_by_Aitzol_Berasategi.jpg", "CC-BY-4.0",
          "Aitzol Berasategi", "cc40e313c74e421edffe3403def413c16878ce14661cce7ec5915baeab35538d"),
    Photo("lomiri-greentock", "lomiri", "greentock_by_Peter_Nerlich.jpg", "CC-BY-SA-4.0",
          "Peter Nerlich", "e7b20e2db9dcd6e2b278ca55873c2110b35d89cd38b04d0b18728726888e6889"),
    Photo("lomiri-life", "lomiri", "life_by_Aitzol_Berasategi.jpg", "CC-BY-4.0",
          "Aitzol Berasategi", "4c119350ead80201fe256850c3d316309ddfb4bdf10b235ce982dcde0c667c05"),
    Photo("lomiri-picosdeeuropa", "lomiri", "picosdeeuropa_by_Aitzol_Berasategi.jpg", "CC-BY-4.0",
          "Aitzol Berasategi", "414d0072b2f6f2c555deafeaef6e45c4fed6fa9ad26eba6560ca8803959cf97a"),
    Photo("lomiri-picture-0b", "lomiri", "Picture_0B_by_freespace.jpg", "CC-BY-4.0",
          'Trevor "Freespace"', "c8c0ab18e48d9e0419fe42881112137f3afafc27dfddc29ec3a6d54c56d225ad",
          held_out=True),
    Photo("lomiri-picture-1a", "lomiri", "Picture_1A_by_freespace.jpg", "CC-BY-4.0",
          'Trevor "Freespace"', "89e86af38d04daaef975665dc2127e9fa76f0fd68f4eea105a2d0ae3390b010b"),
    Photo("lomiri-seeding", "lomiri", "seeding_by_Clements_Engelhardt.jpg", "CC0-1.0",
          "Clemens Engelhardt", "a5634d1ab5e41a3568e92d4a894a500c92b891f9ff734e50bd224d6e185a605f",
          held_out=True),
    Photo("lomiri-sunset", "lomiri", "sunset_by_Aitzol_Berasategi.jpg", "CC-BY-4.0",
          "Aitzol Berasategi", "474dab6a4b9f94dc76c29dfe30e9f5db4af0fd2e33fe5d695f8152b371efca18"),
    Photo("lomiri-wine", "lomiri", "Wine_by_Jakkub_Mede.jpg", "CC-BY-4.0", "Jakub Mede",
          "d2e96e6d4da40dd804b3d0ce295e94de04a2d7d9b6785d42cd9d92ba58bced74", held_out=True),
    # mate-backgrounds
    Photo("mate-aqua", "mate", "Aqua.jpg", "GPL-2+", "Charles Barbin",
          "5c30118205982da441bf7e6a1ada636a8a0be879408140b3148280c665ed6bce"),
    Photo("mate-blinds", "mate", "Blinds.jpg", "GPL-2+", "Lennart Poettering, Andrea Cimitan",
          "f7aac0dcc2e06d0491643e84df3da1d9db7c4610f58806a880d56e074799f600"),
    Photo("mate-dune", "mate", "Dune.jpg", "GPL-2+", "Marco Cogoni, Hylke Bons",
          "8a67c2cb0be8c46b70c237311a4fa4d2b4ac7d39568135384787801fa5cc9a91"),
    Photo("mate-freshflower", "mate", "FreshFlower.jpg", "GPL-2+", "Jens Ansorg",
          "972b0a0c4e5e3fa93f4f244fc84bc64b121a5eac3aaa5856f1308c1f38a02f8e"),
    Photo("mate-garden", "mate", "Garden.jpg", "GPL-2+", "Charles Barbin",
          "d3095ee09d425ef23d27155412136cf14fc3c9af76ca58b452f55e23da324e78"),
    Photo("mate-greenmeadow", "mate", "GreenMeadow.jpg", "GPL-2+",
          "Timothy Schellhase, Lapo Calamandrei",
          "8fa0de0aa4089f7319c9fb7a6d006d4cab6023e8c8853731557cff53567b4832"),
    Photo("mate-ladybird", "mate", "LadyBird.jpg", "GPL-2+", "Charles Barbin",
          "e35a9a4126ef969c90b29c038058c5a575a20eadd84106a37bf1fa9931e7b61d"),
    Photo("mate-raindrops", "mate", "RainDrops.jpg", "GPL-2+", '"blackcombwhistler07"',
          "3e4ea9671c28c90a86cf67b3db9daf18c4741587c596333a7529ca589aaa0c16"),
    Photo("mate-storm", "mate", "Storm.jpg", "GPL-2+", "Sergey Nazarov",
          "77ca53077831d3237f73393a91fc879158abc046d852941c26e90de336356957"),
    Photo("mate-twowings", "mate", "TwoWings.jpg", "GPL-2+", "Charles Barbin, Hylke Bons",
          "665e5abf8a5399070a91a9a8e455fe071e5b61697ff78fdeda4e9843ef545aeb"),
    Photo("mate-wood", "mate", "Wood.jpg", "GPL-2+", "Jean-François Fortin Tam",
          "19c78500ac00a622e19907ab9cc7d06d46fe08c4a6142759a84195696150ec07"),
    Photo("mate-yellowflower", "mate", "YellowFlower.jpg", "GPL-2+", "Charles Barbin",
          "254da96256acb7add685679775a04d1e4a5bc8cd13e5a5a3d61351ce198a5306"),
    # gcompris-qt-data
    Photo("gcompris-alpaca", "gcompris", "erase.rcc:erase/resource/alpaca.webp", "CC-BY-SA-4.0",
          "Dietmar Rabich", "ffd29864f09bf7439144e8da04d772fb455cfe9891d50e60ae70b99a16e42d5e",
          "https://commons.wikimedia.org/wiki/File:Dülmen,_Börnste,_Alpakas_--_2020_--_5338.jpg"),
    Photo("gcompris-bee", "gcompris", "erase.rcc:erase/resource/bee.webp", "CC-BY-2.0",
          "aussiegall", "810de9fea0499e4d1a7584c8b62b509ef1c404d9bec3094d53aeb8a77abdc7b2",
          "https://commons.wikimedia.org/wiki/File:Pollinationn.jpg"),
    Photo("gcompris-butterfly", "gcompris", "erase.rcc:erase/resource/butterfly.webp",
          "CC-BY-SA-4.0", "© 2014 Jee & Rani Nature Photography",
          "e12b50bb4ee6bb36bd4e3ab428a2d1ea87d5390b5a6a4aa189b10950a1925860",
          "https://commons.wikimedia.org/wiki/File:Parantica_aglea_at_Nayikayam_Thattu.jpg"),
    Photo("gcompris-calf", "gcompris", "erase.rcc:erase/resource/calf.webp", "CC-BY-SA-4.0",
          "Basile Morin", "5957d392349d9016e0b6a2ca900ebd12a6a6eed6b21a1fb69111d1fabbca3973",
          "https://commons.wikimedia.org/wiki/File:Close-up_photograph_of_a_calf's_head_looking_at_the_viewer_with_pricked_ears_in_Don_Det_Laos.jpg"),
    Photo("gcompris-camels", "gcompris", "erase.rcc:erase/resource/camels.webp", "CC-BY-SA-4.0",
          "Alexandr frolov", "df4da85790b8a403f5095e796d042f28f8386831a4970ab4b3035746ae038edc",
          "https://commons.wikimedia.org/wiki/File:Camelus_bactrianus_in_western_Mongolia_02.jpg"),
    Photo("gcompris-caterpillar", "gcompris", "erase.rcc:erase/resource/caterpillar.webp",
          "CC-BY-SA-4.0", "Ivar Leidus",
          "1aca9fcc5a0e3e9f2b2bc7d0f231e509f935dd8207b064e7c1810e0466e9403a",
          "https://commons.wikimedia.org/wiki/File:Papilio_machaon_-_Daucus_carota_-_Keila.jpg"),
    Photo("gcompris-chamaeleon", "gcompris", "erase.rcc:erase/resource/chamaeleon.webp",
          "CC-BY-3.0", "Benny Trapp",
          "8a338c7df32949c5a5e1fef4b901d554b1c1af71c6a5bd81882522c11e0c41e5",
          "https://commons.wikimedia.org/wiki/File:BennyTrapp_Chamaeleo_chamaeleon_Samos_Griechenland.jpg"),
    Photo("gcompris-cheetah", "gcompris", "erase.rcc:erase/resource/cheetah.webp", "CC-BY-SA-4.0",
          "Charles J. Sharp", "b9d85c2e2899036e7b0caf458696586adf63d431e5034362bb48a0abd8d29149",
          "https://commons.wikimedia.org/wiki/File:Cheetah_(Acinonyx_jubatus)_female_2.jpg"),
    Photo("gcompris-dolphin", "gcompris", "erase.rcc:erase/resource/dolphin.webp", "CC-BY-SA-4.0",
          "טל שמע", "2847f84c4c9698a9b55124145dd679868da1239b0f174db8f2c83e173cbb9d8c",
          "https://commons.wikimedia.org/wiki/File:Eilat_Dolphin_Reef_(3).jpg"),
    Photo("gcompris-flying-fox", "gcompris", "erase.rcc:erase/resource/flying_fox.webp",
          "CC-BY-SA-4.0", "Andrew Mercer",
          "076622230f0634c0ef952f8f197280262db2355205c22f0c8f7731a13557c54a",
          "https://commons.wikimedia.org/wiki/File:Grey_headed_flying_fox_-_AndrewMercer_IMG41848.jpg"),
    Photo("gcompris-gibbon", "gcompris", "erase.rcc:erase/resource/gibbon.webp", "CC-BY-3.0",
          "JJ Harrison", "a7b242c4b014e7e37f2f3fac95c841c49e2dea5d5aa886e2ab4758e0372af9f8",
          "https://commons.wikimedia.org/wiki/File:Hylobates_lar_-_Kaeng_Krachan_WB.jpg"),
    Photo("gcompris-goat", "gcompris", "erase.rcc:erase/resource/goat.webp", "CC-BY-SA-4.0",
          "JoachimKohlerBremen", "acba63337c11582a5cc3fd97573e4fefd353da82e63a06f1947cdbb11f49b7bd",
          "https://commons.wikimedia.org/wiki/File:Walliser_Schwarzhalsziege,_Belalp_2014.jpg"),
    Photo("gcompris-gorilla", "gcompris", "erase.rcc:erase/resource/gorilla.webp", "CC-BY-SA-4.0",
          "Charles J. Sharp", "5ce6131ce966f585b263e2f04cbd504dd7366f99885ca3cbef12aa25d559b5d4",
          "https://commons.wikimedia.org/wiki/File:Mountain_gorilla_(Gorilla_beringei_beringei)_female_2.jpg"),
    Photo("gcompris-gosling", "gcompris", "erase.rcc:erase/resource/gosling.webp", "CC-BY-SA-4.0",
          "Stephan Sprinz", "dab7bc930f6fe4f7a32db0b8f1bd86d905db50d8aa2e646522c428c731a80853",
          "https://commons.wikimedia.org/wiki/File:Graugans-Gössel_(anser_anser)_im_Naturschutzgebiet_Wagbachniederung.jpg"),
    Photo("gcompris-heron", "gcompris", "erase.rcc:erase/resource/heron.webp", "CC-BY-SA-4.0",
          "Stephan Sprinz", "63006dabe8b74b826eba8d8d80c4330ff38f57fd3e1010254f4644d830c48067",
          "https://commons.wikimedia.org/wiki/File:Purpurreiher_(ardea_purpurea)_im_Flug_-_NSG_Wagbachniederung_1.jpg"),
    Photo("gcompris-horse", "gcompris", "erase.rcc:erase/resource/horse.webp", "CC-BY-SA-4.0",
          "Eatcha", "15b49393342bf7de3fef6c1bb083cc7b643fa90b5b46e1a344833eb1d515a795",
          "https://commons.wikimedia.org/wiki/File:Zaniskari_Horse_in_Ladakh.jpg"),
    Photo("gcompris-kitten", "gcompris", "erase.rcc:erase/resource/kitten.webp", "CC-BY-2.0",
          "GalgenTX", "c6f3a52585a3d6179c78e15375a9d9b11f37bfd0ac33b477f3b67cda06c59727",
          "https://commons.wikimedia.org/wiki/File:A_posing_kitten_(Flickr).jpg"),
    Photo("gcompris-long-nosed-monkey", "gcompris",
          "erase.rcc:erase/resource/long_nosed_monkey.webp", "CC-BY-SA-4.0", "Charles J. Sharp",
          "7dcb1048527339524e6decd296d4bf8c22d74415fe5d6fcaa3354ae17530bf86",
          "https://commons.wikimedia.org/wiki/File:Proboscis_monkey_(Nasalis_larvatus)_female_and_baby.jpg"),
    Photo("gcompris-macaque", "gcompris", "erase.rcc:erase/resource/macaque.webp", "CC-BY-SA-4.0",
          "PJeganathan", "3a97a3c854c6d93cc67cc608e569ed0e6157f22cd5dd7e118fb0a42641eeada8",
          "https://commons.wikimedia.org/wiki/File:Bonnet_macaques_in_anaimalai_hills_JEG2730.jpg"),
    Photo("gcompris-meerkats", "gcompris", "erase.rcc:erase/resource/meerkats.webp", "CC-BY-SA-4.0",
          "Charles J. Sharp", "459198d83393a1835c76861d901144d209a0bead29f4b9d2ef5b472eeab01fdd",
          "https://commons.wikimedia.org/wiki/File:Meerkat_(Suricata_suricatta)_Tswalu.jpg",
          held_out=True),
    Photo("gcompris-northern-harrier", "gcompris", "erase.rcc:erase/resource/northern_harrier.webp",
          "CC-BY-SA-4.0", "Frank Schulenburg",
          "e2b2f388dc6f92ce2ea0f40f2d8d2d1ec6e8a135d05986cae67a7d0330c1ac26",
          "https://commons.wikimedia.org/wiki/File:Female_northern_harrier_in_flight-1142.jpg"),
    Photo("gcompris-nubian-ibex", "gcompris", "erase.rcc:erase/resource/nubian_ibex.webp",
          "CC-BY-SA-4.0", "Rhododendrites",
          "5268033ecc366dbcf949a06e62361785a7be788dfa2b1ad343e7ded8104cfaf2",
          "https://commons.wikimedia.org/wiki/File:Juvenile_Nubian_ibex_in_Mitzpe_Ramon_(40409).jpg"),
    Photo("gcompris-penguin", "gcompris", "erase.rcc:erase/resource/penguin.webp", "CC-BY-SA-4.0",
          "Gordon Leggett", "1c8be6df0a6ff161ad49a789b5699f842b18f5dc93bf6b66fd5f1342266643b2",
          "https://commons.wikimedia.org/wiki/File:2019-03-03_Chinstrap_penguin_on_Barrientos_Island,_Antarctica.jpg"),
    Photo("gcompris-rhinoceros", "gcompris", "erase.rcc:erase/resource/rhinoceros.webp",
          "CC-BY-SA-4.0", "Charles J. Sharp",
          "250140eb6d3a0af11b87c084ce18a6c41a8ed679c97ef758b58ba54e04b11f9c",
          "https://commons.wikimedia.org/wiki/File:Indian_rhinoceros_(Rhinoceros_unicornis)_4.jpg"),
    Photo("gcompris-spoonbills", "gcompris", "erase.rcc:erase/resource/spoonbills.webp",
          "CC-BY-SA-4.0", "Ryzhkov Sergey",
          "f67d7d04bf3ba2270953db11be657fc3fc7292d4d070891f5164fef5b1665f96",
          "https://commons.wikimedia.org/wiki/File:Косарі_в_дельті_Дунаю.jpg"),
    Photo("gcompris-squirrel", "gcompris", "erase.rcc:erase/resource/squirrel.webp", "CC-BY-SA-4.0",
          "Роман Наумов", "56bdd761a41440bdd47eae4aa75b1703f9d24c5d09c8352f9b462deaa6b9b96f",
          "https://commons.wikimedia.org/wiki/File:Білка_на_дереві_в_дендропарку_Олександрія.jpg"),
    Photo("gcompris-swans", "gcompris", "erase.rcc:erase/resource/swans.webp", "CC-BY-SA-4.0",
          "Charles J. Sharp", "5fe69699bf37d702c3ca9b2b76c727aff717494ba368272952e05ac233028eda",
          "https://commons.wikimedia.org/wiki/File:Mute_swans_(Cygnus_olor)_and_cygnets.jpg"),
    Photo("gcompris-toucan", "gcompris", "erase.rcc:erase/resource/toucan.webp", "CC-BY-SA-4.0",
          "LG Nyqvist", "977b0ff4277075a4ef79e0c335276fd5a2ae68f8bf366503fd33203c49f82b04",
          "https://commons.wikimedia.org/wiki/File:Pteroglossus_torquatus_Costa_Rica.jpg"),
    Photo("gcompris-chameleon", "gcompris",
          "explore_world_animals.rcc:explore_world_animals/resource/animals/chameleon.webp",
          "CC-BY-SA-2.0", "Laika ac",
          "f3ececf0133c1301227fdea62d74bce7bcc0d138b048714b116aa4a0744260d5",
          "https://commons.wikimedia.org/wiki/File:Chameleon_(16139192778).jpg"),
    Photo("gcompris-crocodile", "gcompris",
          "explore_world_animals.rcc:explore_world_animals/resource/animals/crocodile.webp",
          "CC-BY-3.0", "Kmanoj", "840cf54b69bf4fb9a14a99fe502e237ad36e7230c146ca884b7b0e444ec12534",
          "https://commons.wikimedia.org/wiki/File:Marsh_Crocodiles_basking_in_the_sun.JPG"),
    Photo("gcompris-dragon", "gcompris",
          "explore_world_animals.rcc:explore_world_animals/resource/animals/dragon.webp",
          "CC-BY-SA-3.0", "Raul654",
          "fc36683cc2069ac83ae84f2da61c2774149d1a1dcb99820380b724ca50d3532e",
          "https://commons.wikimedia.org/wiki/File:Varanus_komodoensis4.jpg"),
    Photo("gcompris-kangaroo", "gcompris",
          "explore_world_animals.rcc:explore_world_animals/resource/animals/kangaroo.webp",
          "GFDL-1.2 (no invariant sections)", "fir0002/Flagstaffotos",
          "683964b6f57fdced539b3da8983ef4f4c9d78a0be3e251363fc5a17d4fb4fe7e",
          "https://commons.wikimedia.org/wiki/File:Kangaroo_and_joey02.jpg"),
    Photo("gcompris-koala", "gcompris",
          "explore_world_animals.rcc:explore_world_animals/resource/animals/koala.webp",
          "CC-BY-SA-3.0", "David Iliff",
          "77b243c27d79f3f5706497af5c1e8e9134f87d634def2b81e2074b572b575d18",
          "https://commons.wikimedia.org/wiki/File:Koala_climbing_tree.jpg"),
    Photo("gcompris-lemur", "gcompris",
          "explore_world_animals.rcc:explore_world_animals/resource/animals/lemur.webp",
          "CC-BY-SA-3.0", "Sannse",
          "4fccf91dd5e6a749d9eb621f982e6a0d7072830db91ba0daabcd86b1de7a9747",
          "https://commons.wikimedia.org/wiki/File:Ring_tailed_lemur_and_twins.jpg"),
    Photo("gcompris-moose", "gcompris",
          "explore_world_animals.rcc:explore_world_animals/resource/animals/moose.webp",
          "public-domain", "Ryan Hagerty",
          "2252a671c2e0ade9ce6ff6d41957348a81ebccfd952ba59bfddceff0b059ea48",
          "https://commons.wikimedia.org/wiki/File:Male_Moose.jpg"),
    Photo("gcompris-panda", "gcompris",
          "explore_world_animals.rcc:explore_world_animals/resource/animals/panda.webp",
          "CC-BY-1.0", "Aaron Logan",
          "70ccf9a9db5008100eb6955ae25fabd4f7769427be784d627cf6315f6dfce692",
          "https://commons.wikimedia.org/wiki/File:Lightmatter_panda.jpg"),
    Photo("gcompris-polar-bear", "gcompris",
          "explore_world_animals.rcc:explore_world_animals/resource/animals/polar_bear.webp",
          "CC-BY-SA-4.0", "Arturo de Frias Marques",
          "0544cef0a7d6940d3c143a04eecb7065bf9b90d7d367ad8bacbef6631b506070",
          "https://commons.wikimedia.org/wiki/File:Polar_Bear_AdF.jpg"),
    Photo("gcompris-farm-chicken", "gcompris",
          "explore_farm_animals.rcc:explore_farm_animals/resource/animals/chicken.webp", "GPL-3",
          "Bruno Coudoin and others, Franck Doucet",
          "30a07d3c7dfc191ff4d160826ad14babb4cfb9cb47b15ec8a098857f135bfcd4"),
    Photo("gcompris-farm-cow", "gcompris",
          "explore_farm_animals.rcc:explore_farm_animals/resource/animals/cow.webp", "GPL-3",
          "Bruno Coudoin and others, Franck Doucet",
          "db359136be5ef7c435a2521e7f782a7f13ab48634f8a955864b1557ca21926db"),
    Photo("gcompris-farm-dog", "gcompris",
          "explore_farm_animals.rcc:explore_farm_animals/resource/animals/dog.webp", "GPL-3",
          "Bruno Coudoin and others, Franck Doucet",
          "5e9d9544495740101e4cfff817d986b683731112b2cf17fde2e4c2a26c3c5314"),
    Photo("gcompris-farm-horse", "gcompris",
          "explore_farm_animals.rcc:explore_farm_animals/resource/animals/horse.webp", "GPL-3",
          "Bruno Coudoin and others, Franck Doucet",
          "87879a9644b71713f52aadf22562f30cc3e6e25a36e07d602a90e0cf6ec888aa"),
    Photo("gcompris-farm-pig", "gcompris",
          "explore_farm_animals.rcc:explore_farm_animals/resource/animals/pig.webp", "GPL-3",
          "Bruno Coudoin and others, Franck Doucet",
          "4f3d27d1fd3d0b3c0482d72a7b62101c133329f95427dcb3fb1319e69d53b7c8"),
    Photo("gcompris-farm-sheep", "gcompris",
          "explore_farm_animals.rcc:explore_farm_animals/resource/animals/sheep.webp", "GPL-3",
          "Bruno Coudoin and others, Franck Doucet",
          "3bac61d5dabb709cdea2511f63bab6bfcde9736536a39f1f7510f5258a75b088"),
    Photo("gcompris-sea1", "gcompris", "clickgame.rcc:clickgame/resource/sea1.webp", "GPL-3",
          "Bruno Coudoin and others, Franck Doucet",
          "b23b11b3206bf6f53071057f15a4e2bc319b54fe5f14997da4bd57fe6503b26c"),
    Photo("gcompris-sea2", "gcompris", "clickgame.rcc:clickgame/resource/sea2.webp", "GPL-3",
          "Bruno Coudoin and others, Franck Doucet",
          "8e8a461b71acb140c96b2d0c7b1405f20f97868df79e6517a6039f21302e0de9"),
    Photo("gcompris-sea3", "gcompris", "clickgame.rcc:clickgame/resource/sea3.webp", "GPL-3",
          "Bruno Coudoin and others, Franck Doucet",
          "f9b7c834f63249bee9e5cd56503ae9b4478b23920b5c8abd22d69939ab2351a4"),
    Photo("gcompris-sea4", "gcompris", "clickgame.rcc:clickgame/resource/sea4.webp", "GPL-3",
          "Bruno Coudoin and others, Franck Doucet",
          "21295e109d35b0f11a9c8dd17524be6212571cb28fad56613be1f8789a261f5e"),
    Photo("gcompris-sea5", "gcompris", "clickgame.rcc:clickgame/resource/sea5.webp", "GPL-3",
          "Bruno Coudoin and others, Franck Doucet",
          "08c6d1ae0ea47c5136137148c817472da329ca1e67063b0fb3e60190e5c55b00"),
    Photo("gcompris-sea6", "gcompris", "clickgame.rcc:clickgame/resource/sea6.webp", "GPL-3",
          "Bruno Coudoin and others, Franck Doucet",
          "42f7a4152c54f8bf065e8ad182472729a5374a6860c573a4de1ea0987e026cf3"),
    Photo("gcompris-chenonceau", "gcompris",
          "details.rcc:details/resource/image/Chenonceau_background.webp", "CC-BY-SA-3.0",
          "Ra-smit", "d8f4c352456d71487af05171b498ce4bd3f96d830a6c6e865e12f4608c5fd5a6",
          "https://commons.wikimedia.org/wiki/File:Chateau_de_Chenonceau_2008.jpg"),
    Photo("gcompris-egeskov-castle", "gcompris",
          "details.rcc:details/resource/image/EgeskovSlotSpejling_background.webp", "CC-BY-SA-3.0",
          "Malene Thyssen", "6ba38f91b6f6f53c4c105c57f647bd43d11b737293f23b1cef1806a81b872106",
          "https://commons.wikimedia.org/wiki/File:Egeskov_Slot_spejling.jpg"),
    Photo("gcompris-eilean-donan", "gcompris",
          "details.rcc:details/resource/image/EilanDonanCastle_background.webp", "CC-BY-3.0",
          "Guillaume Piolle", "cd94fbfc2ef05477d23688eb24401fb8b8dd550f6eb0aa2b8cbcb6f646c7a62f",
          "https://commons.wikimedia.org/wiki/File:Eilean_Donan_castle_-_95mm.jpg"),
    Photo("gcompris-fanoe-windmill", "gcompris",
          "details.rcc:details/resource/image/FanoeWindmill_background.webp", "CC-BY-SA-3.0",
          "Cnyborg", "3cea5251d1e93a9a2e03d3d6001a26098c9614e4b7922725924307a305148068",
          "https://commons.wikimedia.org/wiki/File:DK_Fanoe_Windmill01.JPG"),
    Photo("gcompris-giza-pyramids", "gcompris",
          "details.rcc:details/resource/image/GizahPyramids_background.webp", "CC-BY-SA-2.0",
          "Ricardo Liberato", "71946fdfe1a1dab7b081b97a53fe4d2beed6eaf8bf02e0df7ecf4a1974bbe7db",
          "https://commons.wikimedia.org/wiki/File:Pyramids_at_Gizah.jpg"),
    Photo("gcompris-louvre", "gcompris",
          "details.rcc:details/resource/image/Louvre_2007_02_24_c_background.webp", "CC-BY-SA-3.0",
          "Benh LIEU SONG", "cb88769524ed233f9926c75c97a8f1660c95e8284028ba142db55ea7c0fe66c2",
          "https://commons.wikimedia.org/wiki/File:Louvre_2007_02_24_c.jpg"),
    Photo("gcompris-nagoya", "gcompris",
          "details.rcc:details/resource/image/Nagoya_background.webp", "CC-BY-SA-3.0", "Base64",
          "84b09f2cc12c464b1404e4fdb3c45ac7f7f51e9b4b3dfe450bf7cdf669946cd7",
          "https://commons.wikimedia.org/wiki/File:Nagoya_Castle(Edit2).jpg"),
    Photo("gcompris-notre-dame-de-paris", "gcompris",
          "details.rcc:details/resource/image/NDP_background.webp", "CC-BY-SA-3.0", "Sanchezn",
          "0bbfd0f6edd1145aeee774587635d7738c73274271b4be83eec9b476a3c421ee",
          "https://commons.wikimedia.org/wiki/File:NotreDameDeParis.jpg"),
    Photo("gcompris-neuschwanstein", "gcompris",
          "details.rcc:details/resource/image/Neuschwanstein_background.webp", "CC-BY-SA-3.0",
          "Softeis", "b973a69611d3ff8ed554879d08d31d8876faaf4c20ee76e0c8ff36922cd15b34",
          "https://commons.wikimedia.org/wiki/File:Castle_Neuschwanstein.jpg"),
    Photo("gcompris-sydney-opera", "gcompris",
          "details.rcc:details/resource/image/OperaSidney_background.webp", "CC-BY-SA-3.0",
          "David Iliff", "702de281dd3a2fa4c4c3bea385e2e12d5030fc8b46268e96dcfda5a3d0d3bb90",
          "https://commons.wikimedia.org/wiki/File:Sydney_Opera_House_-_Dec_2008.jpg"),
    Photo("gcompris-taj-mahal", "gcompris",
          "details.rcc:details/resource/image/TajMahal_background.webp", "CC-BY-SA-3.0", "Dhirad",
          "9c2796c2a415cfd3b2ba20f52d7da5935298d00f208028b6c6d25d5d680b0cfb",
          "https://commons.wikimedia.org/wiki/File:Taj_Mahal_in_March_2004.jpg"),
    Photo("gcompris-tower-bridge", "gcompris",
          "details.rcc:details/resource/image/TowerBridgeLondon_background.webp", "CC-BY-SA-4.0",
          "David Iliff", "a811a6b2294807122fdde6295e2decb59e80ef6e248eddb4b228a6785a354e8c",
          "https://commons.wikimedia.org/wiki/File:Tower_Bridge_London_Feb_2006.jpg"),
    Photo("gcompris-chichen-itza", "gcompris",
          "explore_monuments.rcc:explore_monuments/resource/wonders/chichenItza.webp",
          "CC-BY-SA-4.0", "Daniel Schwen",
          "9882593801be435822f1d948afb36b171ed7fc7a301dfa74b11df5ea9afaf681",
          "https://commons.wikimedia.org/wiki/File:Chichen_Itza_3.jpg"),
    Photo("gcompris-christ-the-redeemer", "gcompris",
          "explore_monuments.rcc:explore_monuments/resource/wonders/christTheRedeemer.webp",
          "CC-BY-SA-4.0", "Chensiyuan",
          "3133f2872b3d791595296fd4bf4812654326e01f5c7cd2d870765bfd6772fa2b",
          "https://commons.wikimedia.org/wiki/File:1_cristor_redentor_2014.jpg"),
    Photo("gcompris-music-america", "gcompris",
          "explore_world_music.rcc:explore_world_music/resource/music/america.webp", "CC-BY-2.0",
          "Tom Harpel", "72af64588442d1e251ed33568629d35bf88b3fa348def66265320571bdda0927",
          "https://commons.wikimedia.org/wiki/File:Onalaska-Practice6.jpg"),
    Photo("gcompris-music-australia", "gcompris",
          "explore_world_music.rcc:explore_world_music/resource/music/australia.webp", "CC-BY-2.0",
          "Steve Evans", "b7e0bc6da6f9fd8b2ae453f9a4a7021e5439bbd8944d4566b938134c0fa24951",
          "https://commons.wikimedia.org/wiki/File:Australia_Aboriginal_Culture_009.jpg"),
    # palapeli-data
    Photo("palapeli-castle-maintenon", "palapeli", "castle-maintenon.jpg", "GFDL", "Eric Pouhier",
          "f4a6bf48b97d97715413f9ebd2d8744bd46df0e492bc8326e2513d51084f2612"),
    Photo("palapeli-cincinnati-bridge", "palapeli", "cincinnati-bridge.jpg", "public-domain",
          "Derek Jensen", "09772d09318b34a5c5edd58ee86ff462bcd2907006f31cc8e0704310f8e9ab60"),
    Photo("palapeli-citrus-fruits", "palapeli", "citrus-fruits.jpg", "public-domain",
          "US Department of Agriculture",
          "0cbd7154a14789803167c86705130d0358875198231269df168ea26224e70848"),
    Photo("palapeli-european-honey-bee", "palapeli", "european-honey-bee.jpg", "public-domain",
          "John Severns", "9d54ae706bddd899c91b2b801d9ca4556a5a9a399b4043f9d539df62a8cb7f27"),
    Photo("palapeli-panther-chameleon-female", "palapeli", "panther-chameleon-female.jpg", "GFDL",
          "B. Navez and others",
          "adb9e2834a8a3db40ca3817452b956ada527085e5aa2bd604c465651a3834ae4"),
    # ruby-rmagick-doc
    Photo("rmagick-cheetah", "rmagick", "Cheetah.jpg", "MIT",
          "Timothy P. Hunter (RMagick examples)",
          "e790b2f8b544f6cc8c7b1b8398dcad61e0a6b2b2ae6c9105c025f3c8191d619c"),
    Photo("rmagick-red-rocks", "rmagick", "Red_Rocks.jpg", "MIT",
          "Timothy P. Hunter (RMagick examples)",
          "92cd4d65f28706941a178fe914a20b24efb9687d76e957b0f4add7fec59791d6"),
    # gramps
    Photo("gramps-expedition-1897", "gramps", "1897_expeditionsmannschaft_rio_a.jpg", "GPL-2+",
          "Gramps example media",
          "adaaef7d62c63e355e39441f09ac48b54cba07624ea989685197361c1d310e19"),
    Photo("gramps-aksel-andersson", "gramps", "654px-Aksel_Andersson.jpg", "GPL-2+",
          "Gramps example media",
          "008db50ce49674f9ecf70d45202010d3c291b1f8f50a171370f486dbe770a4c1"),
    Photo("gramps-e-w-dahlgren", "gramps", "E_W_Dahlgren.jpg", "GPL-2+", "Gramps example media",
          "c88a839c7619af83a81e0fbb9a45bb425afcef505b813d970467dc7cabf91deb"),
    Photo("gramps-gunnlaugur-larusson", "gramps", "Gunnlaugur_Larusson_-_Yawn.jpg", "GPL-2+",
          "Gramps example media",
          "7f9731f2647635ab60f75da3476c63a3b553ed176137c006d058ce0f7b745df2"),
    Photo("gramps-o0", "gramps", "O0.jpg", "GPL-2+", "Gramps example media",
          "6be61f53fe380736c8ccc0455dbc8a7ba0a2a42016107a2682edc7a9e7024f3a"),
    Photo("gramps-o2", "gramps", "O2.jpg", "GPL-2+", "Gramps example media",
          "0b0aa4a10adc72c187f4c6bdac87cc2e5e15384f4c6621614c65c48ddc1efd50"),
    Photo("gramps-o3", "gramps", "O3.jpg", "GPL-2+", "Gramps example media",
          "b49b2e16ccad746a7a7284bbbb419c3e4e4057f0f72d2c867101751763895886"),
    Photo("gramps-o4", "gramps", "O4.jpg", "GPL-2+", "Gramps example media",
          "0e29ca98b9eeb552feeb4f4d8affce874ede69d1aabb8e823796458b62cbd9e9"),
    Photo("gramps-o5", "gramps", "O5.jpg", "GPL-2+", "Gramps example media",
          "ec5d9c86e2e25f50f6199923cca0a2602f8accd900cae77c87c7a5ffc5bcbba7", held_out=True),
    # libjs-jquery-colorbox
    Photo("colorbox-marylou", "colorbox", "marylou.jpg", "MIT", "Jack Moore (Colorbox examples)",
          "7793a4b09f68e1a7957a3dd7baf2924fdf5e77f28e75ec2569fc7fa983546db6"),
    Photo("colorbox-daisy", "colorbox", "daisy@2x.jpg", "MIT", "Jack Moore (Colorbox examples)",
          "1f5398666780e543e604f20558f32773a4877a708c7af78913c6c1fede49a199"),
    Photo("colorbox-ohoopee1", "colorbox", "ohoopee1.jpg", "MIT", "Jack Moore (Colorbox examples)",
          "c68ecb7f5d395d74bf1bd05016f0c557d61698d429657607e6939bee7a3753b8"),
    Photo("colorbox-ohoopee2", "colorbox", "ohoopee2.jpg", "MIT", "Jack Moore (Colorbox examples)",
          "22f006548d009a4380a77c0fe6812e887eaa237aeb62ccbbd9789e95709f8401"),
    Photo("colorbox-ohoopee3", "colorbox", "ohoopee3.jpg", "MIT", "Jack Moore (Colorbox examples)",
          "88533458ee3b3833608f08675d4fb9152162ee72090d7b1b2f2c4a1afc11e7ef"),
    # libjs-jquery-backstretch
    Photo("backstretch-dome", "backstretch", "dome.jpg", "Expat",
          "Scott Robbin (Backstretch examples)",
          "3704f24b244393a93dd99e58268b7462b1ff561b0a57b1b47ff77f0ad8c1fe91"),
    Photo("backstretch-pot-holder", "backstretch", "pot-holder.jpg", "Expat",
          "Scott Robbin (Backstretch examples)",
          "f28a9105f6b245761984419c3c6790427c199c497c8acffca25356c0fa543573"),
    Photo("backstretch-coffee", "backstretch", "coffee.jpg", "Expat",
          "Scott Robbin (Backstretch examples)",
          "a35af6eb223f6357bac9bd906b8e516e4473599994a98c47a8bf4cbe31f3f722"),
    Photo("backstretch-sample1", "backstretch", "sample1_1920.jpg", "Expat",
          "Scott Robbin (Backstretch examples)",
          "5203d3507cb4fbc5c47b1acd2d3c1da28e43f553ff36f32ebd3061a98ebea0cd"),
    Photo("backstretch-sample2", "backstretch", "sample2_1920.jpg", "Expat",
          "Scott Robbin (Backstretch examples)",
          "60f406b1b4e2a764fa5f546ff5821fe82e92d2df4b58005959b6b489b0145f1a"),
    # python-kivy-examples
    Photo("kivy-wall", "kivy", "demo/pictures/images/Wall.jpg", "Expat", "Kivy project (examples)",
          "5ac9fb4fc77f1c3a131eafa4839bb32b2796c18242e161cfeae6bd86c366eace"),
    Photo("kivy-cat-and-mug", "kivy", "demo/pictures/images/faust_github.jpg", "Expat",
          "Kivy project (examples)",
          "bdb255da0ac11a5eab7bf5e6362bb785d2546f2e0686f3c239da0b33dbd98ede"),
    Photo("kivy-city", "kivy", "widgets/cityCC0.png", "Expat (file named CC0)",
          "Kivy project (examples)",
          "0c75d1a53c8d8c04304cd8f7d39d5a355dd0eb8a4f033d7a3df64f1017fabbc9"),
    # forensics-samples-files
    Photo("forensics-dogs", "forensics", "pic1/IMG-20191006-WA0002.jpg", "CC-BY-SA-4.0",
          "Joao Eriberto Mota Filho",
          "8f31fbc45826c8eaea2d60e61fb9810db38a66704adba3b7db05dd04b87eeb13"),
    Photo("forensics-brasilia", "forensics", "pic1/IMG_1054.JPG", "CC-BY-SA-4.0",
          "Joao Eriberto Mota Filho",
          "76204f90870d97c2d462c58e113f8a90f2edf4b6fbd95ac2f0f876bb4e61b311"),
    Photo("forensics-circuit-board", "forensics", "pic1/IMG_20200827_231612.jpg", "CC-BY-SA-4.0",
          "Joao Eriberto Mota Filho",
          "29694a6e485e9bc523c08cc3333ffd17570ab61a94a41419fa9db81ff05e9ad0"),
    Photo("forensics-dining-room", "forensics", "pic2/IMG_20191224_234846.jpg", "CC-BY-SA-4.0",
          "Joao Eriberto Mota Filho",
          "653193b3238e0c056cc834c8144aa9801419516e751f8682daa425d7f3dacc5c"),
    Photo("forensics-dog-indoors", "forensics", "pic2/IMG_20200124_231153.jpg", "CC-BY-SA-4.0",
          "Joao Eriberto Mota Filho",
          "850048a1eb65a2147ea05927976aa927c03926c85f880c2f9d2196380bf10403"),
    # scribus-template
    Photo("scribus-canyon", "scribus", "br2/nature.jpg", "public-domain", "Riku Leino",
          "a998508f89a13110343c07dcc987a9e31caae03d018ad4531e6b4c38a78d90b5"),
    Photo("scribus-sunset", "scribus", "br2/sunset.jpg", "public-domain", "Riku Leino",
          "589b2b9b46b28014dd3a0980f9bced28ee04f7b767f4bded2311a98f61fba823"),
    Photo("scribus-pizza", "scribus", "menu2/pizza.jpg", "public-domain", "Riku Leino",
          "2897692e5876d0ac7b82b7e2a5e2bc0d4060bc125af227702d6e09fc63edc84b", held_out=True),
    Photo("scribus-kites", "scribus", "nl1-bw/kites-bw.png", "public-domain", "Riku Leino",
          "ee25fa9762cfa1b8999ba4037e79a0ce7171ba95cc60acb9df3e059b9777a442"),
    # golang-github-disintegration-imaging-dev
    Photo("imaging-branches", "imaging", "branches.jpg", "Expat",
          "Grigory Dryapak (imaging test data)",
          "2c723eaa3f1740072266feeb1e443b8b5069d929e2dc725675e1cfeb8ddec997"),
    Photo("imaging-flowers", "imaging", "flowers.png", "Expat",
          "Grigory Dryapak (imaging test data)",
          "8386d1be3b31d0661686a64bedadb4d3e3ef690c3470a95245f787e9e1a4508b"),
    # scikit-image
    Photo("skimage-astronaut", "skimage", "astronaut.png", "public-domain", "NASA (Eileen Collins)",
          "88431cd9653ccd539741b555fb0a46b61558b301d4110412b5bc28b5e3ea6cb5", held_out=True),
    Photo("skimage-chelsea", "skimage", "chelsea.png", "CC0-1.0", "Stefan van der Walt",
          "596aa1e7cb875eb79f437e310381d26b338a81c2da23439704a73c4651e8c4bb", held_out=True),
    Photo("skimage-coffee", "skimage", "coffee.png", "CC0-1.0", "Rachel Michetti",
          "cc02f8ca188b167c775a7101b5d767d1e71792cf762c33d6fa15a4599b5a8de7", held_out=True),
    Photo("skimage-rocket", "skimage", "rocket.jpg", "public-domain", "SpaceX",
          "c2dd0de7c538df8d111e479619b129464d0269d0ae5fd18ca91d33a7fdfea95c"),
)  # fmt: skip


def target(folder: Path, photo: Photo) -> Path:
    return folder / ("held-out" if photo.held_out else "train") / f"{photo.name}.jpg"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def download(key: str, scratch: Path) -> Path:
    """The package's archive in scratch, checked; exits with one line when it can't be had."""
    package = PACKAGES[key]
    path = scratch / Path(package.archive).name
    where = f"{package.name} {package.version}"
    if package.pypi:
        requirement = scratch / "requirement.txt"
        pin = f"{package.name}=={package.version} --hash=sha256:{package.sha256}"
        requirement.write_text(pin + "\n")
        command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                   "--only-binary=:all:", *WHEEL_TAGS, "--require-hashes", "--requirement",
                   str(requirement), "--dest", str(scratch)]  # fmt: skip
        print(f"pip download {package.name}=={package.version}", file=sys.stderr)
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0 or not path.is_file():
            lines = [" ".join(line.split()) for line in done.stderr.splitlines() if line.strip()]
            errors = [line for line in lines if line.startswith("ERROR")][-1:]
            errors += [line for line in lines if line.startswith(("Expected sha256", "Got "))]
            why = "; ".join(errors) or (lines[-1] if lines else f"pip exited {done.returncode}")
            raise SystemExit(f"cannot download {where} from PyPI: {why}")
    else:
        url = DEBIAN + package.archive
        print(f"downloading {url}", file=sys.stderr)
        try:
            with urllib.request.urlopen(url, timeout=300) as answer, path.open("wb") as file:
                while block := answer.read(1 << 20):
                    file.write(block)
        except OSError as error:  # URLError, HTTPError and socket errors are all OSErrors
            raise SystemExit(f"cannot download {where} from {url}: {error}") from None
    size, digest = path.stat().st_size, sha256_file(path)
    if (size, digest) != (package.size, package.sha256):
        raise SystemExit(
            f"{path.name}: {size} bytes with SHA-256 {digest}, expected {package.size} bytes "
            f"with {package.sha256}"
        )
    return path


def wheel_files(wheel: Path, wanted: set[str]) -> dict[str, bytes]:
    with zipfile.ZipFile(wheel) as archive:
        return {name: archive.read(name) for name in archive.namelist() if name in wanted}


def rcc_files(blob: bytes) -> dict[str, bytes]:
    """The files of a Qt resource bundle (.rcc, format 1 to 3), by their paths inside it."""
    if blob[:4] != b"qres":
        raise ValueError("not a Qt resource bundle")
    version, tree, data, names = struct.unpack(">IIII", blob[4:20])
    node = 14 if version == 1 else 22  # format 2 added each node's modification time

    def name(offset: int) -> str:
        (length,) = struct.unpack(">H", blob[names + offset : names + offset + 2])
        return blob[names + offset + 6 : names + offset + 6 + 2 * length].decode("utf-16-be")

    files: dict[str, bytes] = {}

    def walk(index: int, prefix: str) -> None:
        at = tree + index * node
        name_offset, flags = struct.unpack(">IH", blob[at : at + 6])
        path = f"{prefix}{name(name_offset)}" if index else ""
        if flags & 2:  # a folder: its children are nodes first .. first + count - 1
            count, first = struct.unpack(">II", blob[at + 6 : at + 14])
            for child in range(first, first + count):
                walk(child, f"{path}/" if path else "")
            return
        (offset,) = struct.unpack(">I", blob[at + 10 : at + 14])
        (size,) = struct.unpack(">I", blob[data + offset : data + offset + 4])
        body = blob[data + offset + 4 : data + offset + 4 + size]
        if flags & 1:  # zlib, after the uncompressed size
            body = zlib.decompress(body[4:])
        elif flags & 4:  # zstd, not in Python's standard library before 3.14: left out
            body = b""
        files[path] = body

    walk(0, "")
    return files


def originals(archive: Path, key: str, photos: list[Photo]) -> dict[str, bytes]:
    """Each photo's original bytes, by its name, checked against its SHA-256."""
    outer = {photo.path.split(":", 1)[0] for photo in photos}
    if PACKAGES[key].pypi:
        files = wheel_files(archive, outer)
    else:
        files = deb_files(archive.read_bytes(), outer, archive.name)
    bundles = {path: rcc_files(body) for path, body in files.items() if path.endswith(".rcc")}
    found = {}
    for photo in photos:
        path = photo.path
        if ":" in path:
            bundle, inner = path.split(":", 1)
            data = bundles.get(bundle, {}).get(inner)
        else:
            data = files.get(path)
        if not data:
            raise SystemExit(f"{path} is not in {archive.name} (or is zstd-compressed)")
        digest = hashlib.sha256(data).hexdigest()
        if digest != photo.sha256:
            raise SystemExit(f"{path} in {archive.name}: SHA-256 {digest}, expected {photo.sha256}")
        found[photo.name] = data
    return found


def to_jpeg(data: bytes) -> bytes:
    """An sRGB JPEG of the photograph, its short side at most SHORT_SIDE pixels."""
    from PIL import Image, ImageCms, ImageOps

    with Image.open(io.BytesIO(data)) as opened:
        width, height = opened.size
        scale = min(1.0, SHORT_SIDE / min(width, height))
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        if opened.format == "JPEG":
            opened.draft("RGB", size)  # decode at 1/2, 1/4 or 1/8 where that is still larger
        drafted = opened.size
        image = ImageOps.exif_transpose(opened)
        if image.size != drafted:
            size = size[::-1]  # turned a quarter by its EXIF orientation
        profile = image.info.get("icc_profile")
        if image.mode in ("P", "PA"):
            image = image.convert("RGBA")
        if image.mode in ("RGBA", "LA"):  # transparency: over white
            white = Image.new("RGBA", image.size, "white")
            image = Image.alpha_composite(white, image.convert("RGBA"))
        if profile:
            try:
                source = ImageCms.ImageCmsProfile(io.BytesIO(profile))
                srgb = ImageCms.createProfile("sRGB")
                image = ImageCms.profileToProfile(image, source, srgb, outputMode="RGB")
            except (ImageCms.PyCMSError, OSError, ValueError):
                pass  # a profile that can't be read or doesn't fit: taken as sRGB
        image = image.convert("RGB")
        if image.size != size:
            image = image.resize(size, Image.LANCZOS)
        out = io.BytesIO()
        image.save(out, "JPEG", quality=QUALITY)
        return out.getvalue()


def credits(folder: Path) -> str:
    lines = [
        "# Training photographs",
        "",
        "Written by `scripts/fetch_training_photos.py` of neural-style-gimp: each file is a",
        "photograph taken out of the package named, converted to sRGB, resized so that its short",
        f"side is at most {SHORT_SIDE} pixels and saved as a JPEG (quality {QUALITY}). Those under",
        "CC BY-SA, GFDL or GPL are modified versions (resized) under the same licence; CC BY ones",
        "are resized too. Photographs in held-out/ are never trained on.",
        "",
        "## Packages",
        "",
        "| package | version | archive | where it records the licences |",
        "| --- | --- | --- | --- |",
    ]
    for key in dict.fromkeys(photo.package for photo in PHOTOS):
        package = PACKAGES[key]
        origin = "PyPI" if package.pypi else "Debian"
        lines.append(
            f"| {package.name} ({origin}) | {package.version} | {Path(package.archive).name} | "
            f"{package.licences} |"
        )
    lines += [
        "",
        "## Photographs",
        "",
        "| file | package | original file | licence | author | source |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for photo in PHOTOS:
        file = target(folder, photo).relative_to(folder)
        package = PACKAGES[photo.package]
        lines.append(
            f"| {file} | {package.name} {package.version} | {photo.path} | {photo.licence} | "
            f"{photo.author} | {photo.source} |"
        )
    return "\n".join(lines) + "\n"


def fetch(folder: Path) -> str:
    """Make folder's photographs what PHOTOS says; a one-line summary of what it did."""
    start = time.monotonic()
    names = [photo.name for photo in PHOTOS]
    if len(set(names)) != len(names):
        raise SystemExit("two photographs have the same name")
    manifest_path = folder / MANIFEST
    try:
        manifest = json.loads(manifest_path.read_text())
    except (OSError, ValueError):
        manifest = {}
    written = manifest.get("files", {}) if manifest.get("recipe") == RECIPE else {}

    def current(photo: Photo) -> bool:
        path = target(folder, photo)
        entry = written.get(str(path.relative_to(folder)), {})
        return (
            entry.get("original_sha256") == photo.sha256
            and path.is_file()
            and sha256_file(path) == entry.get("sha256")
        )

    missing = [photo for photo in PHOTOS if not current(photo)]
    downloaded = 0
    packages = list(dict.fromkeys(photo.package for photo in missing))
    if missing:
        for part in ("train", "held-out"):
            (folder / part).mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="training-photos-") as scratch:
            for key in packages:
                archive = download(key, Path(scratch))
                downloaded += archive.stat().st_size
                wanted = [photo for photo in missing if photo.package == key]
                data = originals(archive, key, wanted)
                archive.unlink()
                for photo in wanted:
                    path = target(folder, photo)
                    jpeg = to_jpeg(data.pop(photo.name))
                    partial = path.with_suffix(".part")
                    partial.write_bytes(jpeg)
                    partial.replace(path)
                    written[str(path.relative_to(folder))] = {
                        "original_sha256": photo.sha256,
                        "sha256": hashlib.sha256(jpeg).hexdigest(),
                    }
    expected = {str(target(folder, photo).relative_to(folder)) for photo in PHOTOS}
    for stale in set(written) - expected:  # listed by an older version of this script
        (folder / stale).unlink(missing_ok=True)
        del written[stale]
    new_manifest = {"recipe": RECIPE, "files": dict(sorted(written.items()))}
    if new_manifest != manifest:
        manifest_path.write_text(json.dumps(new_manifest, indent=1) + "\n")
    text = credits(folder)
    credits_path = folder / "CREDITS.md"
    if not credits_path.is_file() or credits_path.read_text() != text:
        credits_path.write_text(text)
    held = sum(photo.held_out for photo in PHOTOS)
    work = "all up to date, nothing downloaded"
    if missing:
        work = f"{len(missing)} written, {downloaded / 1e6:.1f} MB downloaded from {len(packages)}"
        work += " package" if len(packages) == 1 else " packages"
    return (
        f"{len(PHOTOS) - held} training and {held} held-out photographs in {folder} "
        f"({work}, {time.monotonic() - start:.1f} s)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--to", type=Path, default=default_photos_folder())
    args = parser.parse_args()
    print(fetch(args.to.expanduser()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
