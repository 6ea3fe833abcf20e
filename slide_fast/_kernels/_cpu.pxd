cdef int get_level() noexcept nogil
