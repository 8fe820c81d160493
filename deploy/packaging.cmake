# Debian packages, one per component (`cpack --config build/CPackConfig.cmake`
# or `cmake --build build --target package`):
#   vitte-taskd   the coordinator, its unit and default configuration
#   vitte-worker  the worker, its unit, default configuration and system user
#   vitte-task    the CLI, the client library, its headers and CMake package
# Included from the top-level CMakeLists.txt, after every install() rule.
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME vitte-task)
set(CPACK_PACKAGE_VENDOR "vitte-task")
set(CPACK_PACKAGE_CONTACT "vitte-task maintainers <vitte-task@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "distributed task orchestrator for build farms")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
# Debug information stays in the build tree; the packages carry stripped
# programs (a RelWithDebInfo vitte-taskd is mostly DWARF).
set(CPACK_STRIP_FILES ON)
set(CPACK_PACKAGE_DIRECTORY ${PROJECT_BINARY_DIR}/packages)

set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_ALL taskd worker cli)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_RELEASE 1)
set(CPACK_DEBIAN_PACKAGE_SECTION devel)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# Maintainer scripts must be 0755 and conffiles 0644, whatever the checkout's
# modes.
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION TRUE)

# Runtime dependencies come from dpkg-shlibdeps (dpkg-dev), which reads the
# libraries each program links and names the Debian packages that hold them
# with their minimum versions. Without it, the same list is written by hand
# (what dpkg-shlibdeps gives on Debian 12).
find_program(VITTE_DPKG_SHLIBDEPS dpkg-shlibdeps)
if(VITTE_DPKG_SHLIBDEPS)
  set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
  set(VITTE_RUNTIME_DEPENDS "")
else()
  message(STATUS "dpkg-shlibdeps not found: the packages list their runtime "
                 "libraries by hand (install dpkg-dev for exact Depends)")
  set(VITTE_RUNTIME_DEPENDS "libabsl20220623, libc6 (>= 2.36), \
libcpp-httplib0.11, libfmt9, libgcc-s1, libgrpc++1.51, libgrpc29, \
libprotobuf32, libspdlog1.10-fmt9, libsqlite3-0, libstdc++6 (>= 11)")
endif()

set(VITTE_DEB_DIR ${PROJECT_SOURCE_DIR}/deploy/debian)

set(CPACK_COMPONENT_TASKD_DESCRIPTION
  "vitte-task coordinator daemon (vitte-taskd)\n\
Keeps every task graph and task state in SQLite and hands ready tasks to\n\
vitte-worker processes. Ships a hardened systemd unit, vitte-taskd.service,\n\
configured by /etc/vitte-task/vitte-taskd.toml.")
set(CPACK_DEBIAN_TASKD_PACKAGE_NAME vitte-taskd)
set(CPACK_DEBIAN_TASKD_PACKAGE_DEPENDS "${VITTE_RUNTIME_DEPENDS}")
set(CPACK_DEBIAN_TASKD_PACKAGE_SUGGESTS "vitte-task, vitte-worker")
set(CPACK_DEBIAN_TASKD_PACKAGE_CONTROL_EXTRA
  "${VITTE_DEB_DIR}/vitte-taskd/conffiles;${VITTE_DEB_DIR}/vitte-taskd/postinst;\
${VITTE_DEB_DIR}/vitte-taskd/prerm;${VITTE_DEB_DIR}/vitte-taskd/postrm")

set(CPACK_COMPONENT_WORKER_DESCRIPTION
  "vitte-task worker daemon (vitte-worker)\n\
Runs the tasks a vitte-taskd coordinator hands it, as the system user\n\
\"vitte\". Ships a hardened systemd unit template, vitte-worker@NAME.service,\n\
configured by /etc/vitte-task/vitte-worker.toml.")
set(CPACK_DEBIAN_WORKER_PACKAGE_NAME vitte-worker)
# passwd: useradd, for the system user where systemd-sysusers is missing
# (containers).
if(VITTE_RUNTIME_DEPENDS)
  set(CPACK_DEBIAN_WORKER_PACKAGE_DEPENDS "${VITTE_RUNTIME_DEPENDS}, passwd")
else()
  set(CPACK_DEBIAN_WORKER_PACKAGE_DEPENDS "passwd")
endif()
set(CPACK_DEBIAN_WORKER_PACKAGE_SUGGESTS "vitte-task")
set(CPACK_DEBIAN_WORKER_PACKAGE_CONTROL_EXTRA
  "${VITTE_DEB_DIR}/vitte-worker/conffiles;${VITTE_DEB_DIR}/vitte-worker/postinst;\
${VITTE_DEB_DIR}/vitte-worker/prerm;${VITTE_DEB_DIR}/vitte-worker/postrm")

set(CPACK_COMPONENT_CLI_DESCRIPTION
  "vitte-task command line and C++ client library\n\
The vitte-task CLI (submit, watch, status, logs, and run without a daemon),\n\
and the static client library with its headers and CMake package:\n\
find_package(vitte-task) then link vitte::vitte_client.")
set(CPACK_DEBIAN_CLI_PACKAGE_NAME vitte-task)
set(CPACK_DEBIAN_CLI_PACKAGE_DEPENDS "${VITTE_RUNTIME_DEPENDS}")
# Only programs built against the library need these: the CLI does not.
set(CPACK_DEBIAN_CLI_PACKAGE_RECOMMENDS
  "libgrpc++-dev, libprotobuf-dev, libabsl-dev, libsqlite3-dev")

include(CPack)
