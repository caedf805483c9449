"""``python -m alignkit``: the same commands as the ``alignkit`` script."""

from alignkit.cli import main

raise SystemExit(main())
