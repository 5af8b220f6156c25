/* SPDX-License-Identifier: MIT */
/*
 * The host RPCs this device serves (docs/mesh.md, "Host RPCs"): names,
 * descriptions and typed parameters, for the dispatcher that checks a
 * request's params and for the advertisement that lists them.  Data and
 * pure helpers only: the handlers are the dispatcher's (mesh-rpc-dispatch.c).
 */
#pragma once

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>

#include "extract.h"

typedef enum ParamType {
        P_STRING,
        P_STRING_OR_NULL,
        P_BOOL,
        P_BOOL_OR_NULL,
        P_INT,
        P_OBJECT,
} ParamType;

typedef struct Param {
        const char *name;
        ParamType type;
        bool required;
        const char *default_json; /* advertised default, NULL = none */
        const char *description;
} Param;

typedef struct HostRpcInfo {
        const char *name;
        const char *description;
        const Param *params; /* ends with a { NULL } entry */
        bool admin;          /* brings, changes or removes code: also served on the admin subject */
} HostRpcInfo;

size_t mesh_n_host_rpcs(void);
const HostRpcInfo *mesh_host_rpc(size_t i);
/* The entry of name, or NULL. */
const HostRpcInfo *mesh_host_rpc_find(const char *name);
/* A host RPC name (or requestRegistration): never a plugin's bare name. */
bool mesh_is_host_rpc(const char *name);
/* The JSON schema of an RPC's params, for the advertisement. */
struct json_object *mesh_host_rpc_schema(const HostRpcInfo *rpc);
/* -32602 text (caller frees), or NULL when the params fit the table. */
char *mesh_check_params(const Param *table, struct json_object *params);

/* Typed reads of params already checked against the table. */
bool mesh_arg_bool(struct json_object *p, const char *k, bool def);
PackageFormat mesh_arg_format(struct json_object *p);
