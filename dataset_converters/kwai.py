"""Kwai raw logs -> RecBole atomic files: ``python dataset_converters/kwai.py --raw RAW --out OUT``.

The same as ``recbole-dcr convert kwai``; the converter is recbole_dcr.converters.kwai
(this script only hands it the command line).
"""

import sys

from recbole_dcr.converters.cli import main

if __name__ == "__main__":
    sys.exit(main(["kwai", *sys.argv[1:]]))
