"""Wechat raw logs -> RecBole atomic files: ``python dataset_converters/wechat.py --raw RAW --out OUT``.

The same as ``recbole-dcr convert wechat``; the converter is recbole_dcr.converters.wechat
(this script only hands it the command line).
"""

import sys

from recbole_dcr.converters.cli import main

if __name__ == "__main__":
    sys.exit(main(["wechat", *sys.argv[1:]]))
