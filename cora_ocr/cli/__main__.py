import sys

from cora_ocr.cli import main

sys.exit(main())
