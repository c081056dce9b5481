import sys

from jaxrelu.cli import entry

sys.exit(entry())
