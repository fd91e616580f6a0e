// The decoders are inline in include/chalfprecision.h; SwiftPM needs a source file per C target.
#include "chalfprecision.h"
