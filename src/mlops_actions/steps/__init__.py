"""One module per pipeline step: typed settings in, a typed result out, no printing."""
