// oneDNN's C API (Debian: libdnnl-dev, oneDNN 2.6, OpenMP runtime). Only
// Sources/PlateauTensor/Backend/OneDNNConvolutions.swift imports it.
#include <oneapi/dnnl/dnnl.h>
