"""``python -m transferlab`` runs the command line."""

from transferlab.cli.main import main

raise SystemExit(main())
