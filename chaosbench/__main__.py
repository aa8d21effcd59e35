import sys

import chaosbench

if getattr(chaosbench, "__file__", None) is None:
    # A folder named chaosbench (e.g. the clone itself) in the working directory shadows the
    # installed package as a namespace package: nothing of chaosbench would import correctly.
    print(f"chaosbench: error: the folder {list(chaosbench.__path__)[0]} hides the installed chaosbench "
          "package; run from another folder (e.g. inside the clone)", file=sys.stderr)  # fmt: skip
    sys.exit(2)

from chaosbench.cli import main  # noqa: E402

sys.exit(main())
