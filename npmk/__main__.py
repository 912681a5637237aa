import sys

from npmk.cli import main

sys.exit(main())
