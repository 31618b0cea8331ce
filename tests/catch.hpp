// Catch2 v2 (Debian's catch2) or v3, whichever CMake found.
#pragma once
#if TASKLET_CATCH_V3
#include <catch2/catch_all.hpp>
#else
#include <catch2/catch.hpp>
#endif
