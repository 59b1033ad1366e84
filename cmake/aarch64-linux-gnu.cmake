# Cross toolchain for the arm64 agent, from Debian's gcc-aarch64-linux-gnu.
# The arm64 -dev packages live in the multiarch directory, which this gcc
# already searches. The agent's dist name (loam-host-arm64) follows from
# CMAKE_SYSTEM_PROCESSOR through the arch aliases (src/lib/CMakeLists.txt).
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_FIND_ROOT_PATH /usr/aarch64-linux-gnu /usr/lib/aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE BOTH)
