import sys

from jaxrelu.bench import main
from jaxrelu.engine import use_cpu_cores

use_cpu_cores()
sys.exit(main())
