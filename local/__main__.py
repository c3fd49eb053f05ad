"""``python -m local`` (what ``make run`` starts)."""

from local.run import main

raise SystemExit(main())
