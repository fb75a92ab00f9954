"""``python -m autograder.notebook.sandbox``: print which sandbox this machine gives."""
import sys

from .modes import main

sys.exit(main())
