from .collection import main

raise SystemExit(main())
