import sys
from jaxrelu.cli import main
sys.exit(main())
