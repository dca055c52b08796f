// The only C surface Plateau uses from Open MPI (Debian: libopenmpi-dev, pkg-config ompi-c).
// Open MPI spells MPI_COMM_WORLD, MPI_FLOAT, MPI_SUM and MPI_IN_PLACE as macros over the
// addresses of library globals, which Swift cannot import; these inline wrappers take them
// on the C side so that PlateauMPI calls plain functions. Every call is on MPI_COMM_WORLD.
#include <mpi.h>

static inline int plateau_mpi_initialized(void) {
    int flag = 0;
    MPI_Initialized(&flag);
    return flag;
}

static inline int plateau_mpi_finalized(void) {
    int flag = 0;
    MPI_Finalized(&flag);
    return flag;
}

/// MPI_Init_thread with MPI_THREAD_FUNNELED: Plateau's compute threads never call MPI, only
/// the thread that initialized it does. Returns the MPI error code; `provided` the level.
static inline int plateau_mpi_init(int *provided) {
    return MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, provided);
}

static inline int plateau_mpi_finalize(void) { return MPI_Finalize(); }

static inline int plateau_mpi_rank(void) {
    int rank = -1;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    return rank;
}

static inline int plateau_mpi_size(void) {
    int size = 0;
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    return size;
}

static inline int plateau_mpi_allreduce_sum(float *buffer, int count) {
    return MPI_Allreduce(MPI_IN_PLACE, buffer, count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
}

static inline int plateau_mpi_broadcast(float *buffer, int count, int root) {
    return MPI_Bcast(buffer, count, MPI_FLOAT, root, MPI_COMM_WORLD);
}

static inline int plateau_mpi_allgatherv(const float *send, int count, float *receive, const int *counts, const int *displacements) {
    return MPI_Allgatherv(send, count, MPI_FLOAT, receive, counts, displacements, MPI_FLOAT, MPI_COMM_WORLD);
}

static inline int plateau_mpi_barrier(void) { return MPI_Barrier(MPI_COMM_WORLD); }

static inline int plateau_mpi_send(const float *buffer, int count, int destination, int tag) {
    return MPI_Send(buffer, count, MPI_FLOAT, destination, tag, MPI_COMM_WORLD);
}

static inline int plateau_mpi_recv(float *buffer, int count, int source, int tag) {
    return MPI_Recv(buffer, count, MPI_FLOAT, source, tag, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
}

static inline int plateau_mpi_sendrecv(const float *send, int sendCount, int destination, float *receive, int receiveCount, int source, int tag) {
    return MPI_Sendrecv(send, sendCount, MPI_FLOAT, destination, tag, receive, receiveCount, MPI_FLOAT, source, tag,
                        MPI_COMM_WORLD, MPI_STATUS_IGNORE);
}

static inline int plateau_mpi_abort(int code) { return MPI_Abort(MPI_COMM_WORLD, code); }

static inline void plateau_mpi_error_string(int code, char *text, int capacity) {
    int length = 0;
    if (capacity < MPI_MAX_ERROR_STRING) { text[0] = 0; return; }
    MPI_Error_string(code, text, &length);
    text[length] = 0;
}

static inline int plateau_mpi_max_error_string(void) { return MPI_MAX_ERROR_STRING + 1; }
