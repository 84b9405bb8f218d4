from mlops_actions.cli import main

raise SystemExit(main())
