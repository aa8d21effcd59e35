import sys

from chaosbench.cli import main

sys.exit(main())
