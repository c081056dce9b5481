"""The built-in studies: ``NAME.toml`` (a study) and ``NAME.py`` (a script), run by ``jaxrelu run NAME``.

``jaxrelu experiments`` lists them (modules whose names start with ``_``, such as
the scripts' shared helper :mod:`jaxrelu.experiments._common`, are not studies).
Their write-ups and measured numbers are in ``docs/experiments/`` (one page each) of the
source repository.
"""
