/* SPDX-License-Identifier: MIT */
/*
 * Every externally visible name of dc-plugin-host in one place: bus names,
 * object paths, interfaces, error names, polkit action ids, journal
 * MESSAGE_IDs and default paths.  Other files never spell these literally.
 */
#pragma once

/* D-Bus */
#define DC_BUS_NAME "org.deviceconnect.PluginHost"
#define DC_BUS_PATH_ROOT "/org/deviceconnect/PluginHost1"
#define DC_BUS_PATH_PLUGINS "/org/deviceconnect/PluginHost1/plugins"
#define DC_BUS_IFACE_MANAGER "org.deviceconnect.PluginHost1.Manager"
#define DC_BUS_IFACE_PLUGIN "org.deviceconnect.PluginHost1.Plugin"
#define DC_BUS_ERROR_PREFIX "org.deviceconnect.PluginHost1.Error."
#define DC_BUS_ERROR_NO_SUCH_PLUGIN DC_BUS_ERROR_PREFIX "NoSuchPlugin"
#define DC_BUS_ERROR_NO_SUCH_FUNCTION DC_BUS_ERROR_PREFIX "NoSuchFunction"
#define DC_BUS_ERROR_INVALID_PARAMS DC_BUS_ERROR_PREFIX "InvalidParams"
#define DC_BUS_ERROR_ALREADY_LOADED DC_BUS_ERROR_PREFIX "AlreadyLoaded"
#define DC_BUS_ERROR_NOT_LOADED DC_BUS_ERROR_PREFIX "NotLoaded"
#define DC_BUS_ERROR_INCOMPATIBLE DC_BUS_ERROR_PREFIX "IncompatiblePlugin"
#define DC_BUS_ERROR_INVALID_PACKAGE DC_BUS_ERROR_PREFIX "InvalidPackage"
#define DC_BUS_ERROR_INVALID_ID DC_BUS_ERROR_PREFIX "InvalidId"
#define DC_BUS_ERROR_BUSY DC_BUS_ERROR_PREFIX "Busy"
#define DC_BUS_ERROR_LOAD_FAILED DC_BUS_ERROR_PREFIX "LoadFailed"
#define DC_BUS_ERROR_REJECTED DC_BUS_ERROR_PREFIX "Rejected"
#define DC_BUS_ERROR_TIMEOUT DC_BUS_ERROR_PREFIX "Timeout"
#define DC_BUS_ERROR_INVOKE_FAILED DC_BUS_ERROR_PREFIX "InvokeFailed"
#define DC_BUS_ERROR_ALREADY_EXISTS DC_BUS_ERROR_PREFIX "AlreadyExists"
#define DC_BUS_ERROR_READ_ONLY DC_BUS_ERROR_PREFIX "ReadOnly"
#define DC_BUS_ERROR_SHUTTING_DOWN DC_BUS_ERROR_PREFIX "ShuttingDown"
#define DC_BUS_ERROR_RATE_LIMITED DC_BUS_ERROR_PREFIX "RateLimited"
#define DC_BUS_ERROR_INVALID_CONFIGURATION DC_BUS_ERROR_PREFIX "InvalidConfiguration"
#define DC_BUS_ERROR_DOWNLOAD_FAILED DC_BUS_ERROR_PREFIX "DownloadFailed"
#define DC_BUS_ERROR_PLUGIN_CRASHED DC_BUS_ERROR_PREFIX "PluginCrashed"
#define DC_BUS_PATH_LOG_CONTROL "/org/freedesktop/LogControl1"
#define DC_BUS_IFACE_LOG_CONTROL "org.freedesktop.LogControl1"

/* polkit */
#define DC_POLKIT_ACTION_INVOKE "org.deviceconnect.pluginhost.invoke"
#define DC_POLKIT_ACTION_MANAGE "org.deviceconnect.pluginhost.manage-plugins"
#define DC_POLKIT_ACTION_INSTALL "org.deviceconnect.pluginhost.install-plugins"

/* Journal MESSAGE_IDs (catalog: src/daemon/dc-plugin-host.catalog) */
#define DC_MESSAGE_DAEMON_STARTED "f96d9f48a9d5420ab328559c2a9848ec"
#define DC_MESSAGE_PLUGIN_LOADED "2502ad66dc07494c9d9b442d056a1a5d"
#define DC_MESSAGE_PLUGIN_UNLOADED "b107c64c54834a259234174f9a0be9b4"
#define DC_MESSAGE_PLUGIN_REJECTED "c4e7099a3e674d55a7fdb039e8a02ef6"
#define DC_MESSAGE_PLUGIN_FAILED "ecdff17929904072b9de4445ee2dad1a"
#define DC_MESSAGE_PLUGIN_INSTALLED "6e434470c8664fef8affee6db187c891"
#define DC_MESSAGE_PLUGIN_REMOVED "6acf9ab5fca44704a5c1c444efad1071"
#define DC_MESSAGE_POLICY_MODE "91af0ebb8b514ceaaeb1279cd4515d1a"
#define DC_MESSAGE_DAEMON_STOPPING "7f71ee9f8a5f416095087e90b10c24a8"
#define DC_MESSAGE_CONFIG_RELOADED "a1254f9fc95f4cc09d46f4efe900e01c"
#define DC_MESSAGE_INSTALL_REFUSED "c3531990c5c84ce3aad7efd23b181ee2"
#define DC_MESSAGE_PLUGIN_CRASHED "3812b53b1dea4f7983ebb537ed3b4446"
#define DC_MESSAGE_PLUGIN_QUARANTINED "1a703c3ae34f48bda63b150bdc4d8ae5"
#define DC_MESSAGE_PLUGIN_HUNG "ebd386868f6f4cae9059e5e48b192830"

/* Environment */
#define DC_ENV_SIGNATURES "DC_PLUGIN_SIGNATURES"
/* dc-plugin-worker elsewhere than in libexec (the build tree's tests) */
#define DC_ENV_WORKER "DC_PLUGIN_WORKER"
#define DC_ENV_CAPABILITIES_DIR "DC_PLUGIN_CAPABILITIES_DIR"
#define DC_ENV_CONFIG "DC_PLUGIN_HOST_CONFIG"
#define DC_ENV_MAX_PLUGIN_BYTES "DC_PLUGIN_MAX_PLUGIN_BYTES"
#define DC_ENV_INSTALL_REQUIRE_DIGEST "DC_PLUGIN_INSTALL_REQUIRE_DIGEST"
#define DC_ENV_INSTALL_URL_ALLOWLIST "DC_PLUGIN_INSTALL_URL_ALLOWLIST"
#define DC_ENV_ARTIFACT_DIR "DC_PLUGIN_ARTIFACT_DIR"

/* Service identity and default paths (FHS) */
#define DC_SERVICE_USER "dc-plugin-host"
#define DC_SYSLOG_IDENTIFIER "dc-plugin-hostd"

/* Device Connect mesh subjects (docs/mesh.md, "Subjects"): printf formats
 * of tenant and device id; the artifact URL scheme of roll-outs. */
#define DC_MESH_SUBJECT_PREFIX_FMT "device-connect.%s."
#define DC_MESH_SUBJECT_CMD_FMT "device-connect.%s.%s.cmd"
/* ours: the admin RPCs (installs, loads, removals, publishes) for
 * credentials NATS permits to publish here (docs/mesh.md, "Admin and operator") */
#define DC_MESH_SUBJECT_ADMIN_FMT "device-connect.%s.%s.admin"
#define DC_MESH_SUBJECT_EVENT_FMT "device-connect.%s.%s.event.%s"
#define DC_MESH_SUBJECT_HEARTBEAT_FMT "device-connect.%s.%s.heartbeat"
#define DC_MESH_SUBJECT_PRESENCE_FMT "device-connect.%s.%s.presence"
#define DC_MESH_SUBJECT_REGISTRY_FMT "device-connect.%s.registry"
#define DC_MESH_SUBJECT_PROBE_FMT "device-connect.%s.discovery.probe"
#define DC_MESH_SUBJECT_DISCOVERY_FMT "device-connect.%s.discovery"
#define DC_MESH_SUBJECT_ALL_HEARTBEATS_FMT "device-connect.%s.*.heartbeat"
#define DC_MESH_SUBJECT_ALL_PRESENCE_FMT "device-connect.%s.*.presence"
#define DC_MESH_DEVICE_SUBJECTS_FMT "device-connect.%s.%s."
#define DC_MESH_REPLY_PREFIX_DEFAULT "_INBOX."
#define DC_MESH_URL_SCHEME "dc-mesh://"
#define DC_MESH_DEVICE_TYPE "plugin_host"
