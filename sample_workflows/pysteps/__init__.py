"""Python callables used by the sample workflows' `type: python` steps."""
