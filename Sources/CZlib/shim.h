// zlib's inflate interface (Debian: zlib1g-dev), used by PlateauData to read .gz files.
#include <zlib.h>
