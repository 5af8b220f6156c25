/* SPDX-License-Identifier: MIT */
#include "verify.h"

#include <fcntl.h>
#include <sys/utsname.h>

#include "log.h"
#include "plugin-id.h"
#include "dc-plugin-host/plugin.h"

void candidate_init(Candidate *c) {
        *c = (Candidate){ .image = { .fd = -1 } };
}

void candidate_done(Candidate *c) {
        free(c->id);
        free(c->root);
        manifest_done(&c->manifest);
        plugin_image_done(&c->image);
        free(c->signer);
        free(c->signed_version);
        candidate_init(c);
}

const char *host_architecture(void) {
        static char arch[sizeof(((struct utsname *) 0)->machine)];
        if (!arch[0]) {
                struct utsname u;
                if (uname(&u) == 0)
                        snprintf(arch, sizeof arch, "%s", u.machine);
        }
        return arch;
}

/*
 * Trusted comment grammar: "dc-plugin-host-v1 id=<id> version=<v>
 * api_level=<n> arch=<uname -m>", each key exactly once, nothing else.
 */
static int check_trusted_comment(const char *comment, const Candidate *c, unsigned api_level, char **ret_version,
                                 Verdict *v) {
        _cleanup_free_ char *copy = strdup(comment);
        const char *id = NULL, *version = NULL, *api = NULL, *arch = NULL;
        char *save = NULL, *tok;
        char api_str[16];

        if (!copy)
                return -ENOMEM;
        tok = strtok_r(copy, " ", &save);
        if (!tok || !streq(tok, "dc-plugin-host-v1"))
                goto bad;
        while ((tok = strtok_r(NULL, " ", &save))) {
                char *eq = strchr(tok, '=');
                const char **slot;
                if (!eq)
                        goto bad;
                *eq = 0;
                if (streq(tok, "id"))
                        slot = &id;
                else if (streq(tok, "version"))
                        slot = &version;
                else if (streq(tok, "api_level"))
                        slot = &api;
                else if (streq(tok, "arch"))
                        slot = &arch;
                else
                        goto bad;
                if (*slot)
                        goto bad;
                *slot = eq + 1;
        }
        if (!id || !version || !api || !arch)
                goto bad;
        snprintf(api_str, sizeof api_str, "%u", api_level);
        if (!streq(id, c->id) || !streq(api, api_str) || !streq(arch, host_architecture()) ||
            (c->layout == LAYOUT_FOLDER && !streq_ptr(version, c->manifest.version)))
                return verdict_set(v, -EPERM, REASON_SIGNATURE_METADATA_MISMATCH,
                                   "plugin rejected: signature-metadata-mismatch: signed metadata does not match this plugin (signed: %s)",
                                   comment);
        *ret_version = strdup(version);
        return *ret_version ? 0 : -ENOMEM;
bad:
        return verdict_set(v, -EPERM, REASON_SIGNATURE_METADATA_MISMATCH,
                           "plugin rejected: signature-metadata-mismatch: trusted comment is not \"dc-plugin-host-v1 id=… version=… api_level=… arch=…\"");
}

static int check_signature(const VerifyContext *ctx, int dirfd, Candidate *c, Verdict *v) {
        const Policy *p = ctx->policy;
        _cleanup_free_ char *text = NULL, *name = NULL;
        MinisignSignature sig = {};
        size_t len;
        int r;

        if (asprintf(&name, "%s.so.minisig", c->id) < 0)
                return -ENOMEM;
        _cleanup_close_ int fd = openat_plugin_file(dirfd, name, &ctx->rule, MINISIGN_MAX_FILE, "signature file", NULL, v);
        if (fd == -ENOENT) {
                if (p->require_signatures)
                        return verdict_set(v, -EPERM, REASON_SIGNATURE_MISSING,
                                           "plugin rejected: signature-missing: no %s and signatures are required", name);
                return 0;
        }
        if (fd < 0)
                return fd;
        r = read_fd_full(fd, MINISIGN_MAX_FILE, &text, &len);
        if (r < 0)
                return verdict_set(v, r, REASON_SIGNATURE_INVALID, "plugin rejected: signature-invalid: cannot read %s: %s",
                                   name, strerror(-r));
        if (minisign_signature_parse(text, len, &sig) < 0)
                return verdict_set(v, -EPERM, REASON_SIGNATURE_INVALID,
                                   "plugin rejected: signature-invalid: %s is not a minisign signature", name);
        const TrustedKey *key = policy_find_key(p, sig.key_id);
        if (!key) {
                char kid[17];
                minisign_key_id_format(sig.key_id, kid);
                minisign_signature_done(&sig);
                return verdict_set(v, -EPERM, REASON_SIGNATURE_UNTRUSTED_KEY,
                                   "plugin rejected: signature-untrusted-key: signed by key %s, which is not trusted", kid);
        }
        r = minisign_verify(&sig, &key->key, c->image.blake2b);
        if (r == -EPROTONOSUPPORT)
                r = verdict_set(v, -EPERM, REASON_SIGNATURE_INVALID,
                                "plugin rejected: signature-invalid: legacy (non-prehashed) minisign signatures are not accepted; sign with minisign 0.11 defaults");
        else if (r < 0)
                r = verdict_set(v, -EPERM, REASON_SIGNATURE_INVALID,
                                "plugin rejected: signature-invalid: signature by key %s does not verify", key->key_id);
        else
                r = check_trusted_comment(sig.trusted_comment, c, ctx->host_api_level, &c->signed_version, v);
        if (r >= 0) {
                c->signer = strdup(key->key_id);
                if (!c->signer)
                        r = -ENOMEM;
        }
        minisign_signature_done(&sig);
        return r;
}

int plugin_verify(const VerifyContext *ctx, int rootfd, const char *root_path, const char *name, PluginLayout layout,
                  Candidate *c, Verdict *v) {
        const Policy *p = ctx->policy;
        _cleanup_close_ int dirfd = -1, sofd = -1;
        _cleanup_free_ char *so_name = NULL;
        struct stat st;
        int r;

        c->layout = layout;
        c->root = strdup(root_path);
        if (layout == LAYOUT_FLAT)
                c->id = strndup(name, strlen(name) - 3); /* strip ".so" */
        else
                c->id = strdup(name);
        if (!c->root || !c->id)
                return -ENOMEM;

        /* 1. */
        if (!plugin_id_is_valid(c->id))
                return verdict_set(v, -EINVAL, REASON_INVALID_ID, "plugin rejected: invalid-id: \"%s\" is not a valid plugin id", c->id);
        /* 2. */
        if (ctx->is_disabled && ctx->is_disabled(c->id, ctx->userdata))
                return verdict_set(v, -ESHUTDOWN, REASON_DISABLED, "plugin is disabled");
        /* 3. strict: listed?  Nothing is opened or hashed for an unlisted id. */
        if ((p->mode == SIGNATURES_STRICT_EMPTY || p->mode == SIGNATURES_ALLOWLIST) && !policy_find_pin(p, c->id))
                return verdict_set(v, -EPERM, REASON_NOT_IN_ALLOWLIST, "plugin not in allowlist: %s", c->id);
        /* 4. */
        if (p->mode == SIGNATURES_INVALID)
                return verdict_set(v, -EPERM, REASON_POLICY_INVALID,
                                   "plugin rejected: policy-invalid: the signature configuration is malformed");

        /* 5. the plugin folder, opened once without following links */
        if (layout == LAYOUT_FOLDER) {
                dirfd = openat(rootfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (dirfd < 0) {
                        if (errno == ELOOP || errno == ENOTDIR)
                                return verdict_set(v, -EPERM, REASON_NOT_REGULAR_FILE, "plugin rejected: not a regular file");
                        return verdict_set(v, -errno, REASON_READ_FAILED, "failed to open plugin folder: %s", strerror(errno));
                }
                if (fstat(dirfd, &st) < 0)
                        return verdict_set(v, -errno, REASON_READ_FAILED, "failed to open plugin folder: %s", strerror(errno));
                r = check_plugin_dir_stat(&st, &ctx->rule, v);
                if (r < 0)
                        return r;

                /* 6. manifest */
                _cleanup_close_ int mfd = openat_plugin_file(dirfd, "manifest.json", &ctx->rule, MANIFEST_MAX_SIZE + 1,
                                                             "manifest.json", NULL, v);
                if (mfd == -ENOENT)
                        return verdict_set(v, -ENOENT, REASON_MANIFEST_MISSING, "plugin rejected: manifest-missing: no manifest.json");
                if (mfd < 0)
                        return mfd;
                _cleanup_free_ char *text = NULL;
                size_t len;
                r = read_fd_full(mfd, MANIFEST_MAX_SIZE, &text, &len);
                if (r == -EFBIG)
                        return verdict_set(v, r, REASON_TOO_LARGE, "plugin rejected: too-large: manifest.json is larger than %u bytes",
                                           MANIFEST_MAX_SIZE);
                if (r < 0)
                        return verdict_set(v, r, REASON_READ_FAILED, "failed to read manifest.json: %s", strerror(-r));
                r = manifest_parse(text, len, c->id, ctx->host_api_level, &c->manifest, v);
                if (r < 0)
                        return r;
        } else {
                dirfd = fcntl(rootfd, F_DUPFD_CLOEXEC, 3);
                if (dirfd < 0)
                        return -errno;
        }

        /* 7. the shared object */
        if (asprintf(&so_name, "%s.so", c->id) < 0)
                return -ENOMEM;
        sofd = openat_plugin_file(dirfd, so_name, &ctx->rule, p->max_plugin_size, so_name, &st, v);
        if (sofd == -ENOENT)
                return verdict_set(v, -ENOENT, REASON_MANIFEST_INVALID, "plugin rejected: manifest-invalid: %s is missing", so_name);
        if (sofd < 0)
                return sofd;

        /* 8. sealed copy + hash (+ BLAKE2b when signatures are in play) */
        r = plugin_image_load(sofd, c->id, p->max_plugin_size, policy_wants_signatures(p), p->image_mode,
                              owner_rule_allows(&(OwnerRule){ .kind = ROOT_READONLY, .self_uid = p->self_uid,
                                                               .trusted_uid = p->trusted_uid },
                                                st.st_uid),
                              &c->image, v);
        if (r < 0)
                return r;
        digest_format(c->image.sha256, c->digest);

        /* 9. the pin */
        if (p->mode == SIGNATURES_ALLOWLIST) {
                const Pin *pin = policy_find_pin(p, c->id);
                if (!digest_equal(pin->digest, c->image.sha256)) {
                        digest_format(pin->digest, c->expected_digest);
                        return verdict_set(v, -EPERM, REASON_DIGEST_MISMATCH,
                                           "plugin signature does not match allowlist: expected %s, got %s",
                                           c->expected_digest, c->digest);
                }
        }
        /* 11. publisher signature */
        if (policy_wants_signatures(p)) {
                r = check_signature(ctx, dirfd, c, v);
                if (r < 0)
                        return r;
        }
        /* 13. ELF pre-flight on the sealed bytes */
        ElfPolicy ep = { .allowed_needed = p->allowed_needed, .strict = p->strict_elf,
                         .required_symbol = DC_PLUGIN_DESCRIPTOR_SYMBOL };
        r = elf_preflight(c->image.map, c->image.size, &ep, v);
        if (r < 0)
                return r;
        /* 14. duplicate id, before any code is mapped */
        if (ctx->is_registered && ctx->is_registered(c->id, ctx->userdata))
                return verdict_set(v, -EEXIST, REASON_DUPLICATE_ID, "failed to register plugin: plugin already registered");
        return 0;
}
