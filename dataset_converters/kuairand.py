"""KuaiRand raw logs -> RecBole atomic files: ``python dataset_converters/kuairand.py --raw RAW --out OUT``.

The same as ``recbole-dcr convert kuairand``; the converter is recbole_dcr.converters.kuairand
(this script only hands it the command line).
"""

import sys

from recbole_dcr.converters.cli import main

if __name__ == "__main__":
    sys.exit(main(["kuairand", *sys.argv[1:]]))
