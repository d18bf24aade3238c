# Shared by scripts/demo and scripts/test: install what a fresh Debian
# machine with Rust lacks, or say exactly what is missing.

die() { printf 'esia-gate: %s\n' "$*" >&2; exit 1; }

# need PACKAGE CHECK...: the package is needed when any CHECK (a command
# name, or a path when it starts with /) is missing.
missing_pkgs=()
need() {
  local pkg=$1; shift
  local c
  for c in "$@"; do
    if [[ $c == /* ]]; then [[ -e $c ]] || { missing_pkgs+=("$pkg"); return; }
    else command -v "$c" >/dev/null 2>&1 || { missing_pkgs+=("$pkg"); return; }
    fi
  done
}

gost_engine_present() {
  local p
  for p in /usr/lib/x86_64-linux-gnu/engines-3/gost.so /usr/lib/aarch64-linux-gnu/engines-3/gost.so /usr/lib/engines-3/gost.so; do
    [[ -e $p ]] && return 0
  done
  return 1
}

install_missing() {
  command -v cargo >/dev/null 2>&1 || die "cargo is not installed: install Rust (https://rustup.rs) first."
  gost_engine_present || missing_pkgs+=(libengine-gost-openssl)
  [[ ${#missing_pkgs[@]} -eq 0 ]] && return 0
  local sudo=()
  if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null 2>&1 || die "missing Debian packages: ${missing_pkgs[*]} (run as root, or install them: apt-get install ${missing_pkgs[*]})"
    sudo=(sudo)
  fi
  command -v apt-get >/dev/null 2>&1 || die "missing packages: ${missing_pkgs[*]}, and this is not a Debian machine with apt-get: install them by hand."
  echo "esia-gate: installing ${missing_pkgs[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update -q >/dev/null || die "apt-get update failed: is the Debian mirror reachable?"
  "${sudo[@]}" apt-get install -y -q "${missing_pkgs[@]}" >/dev/null || die "apt-get install ${missing_pkgs[*]} failed"
  gost_engine_present || die "the OpenSSL GOST engine is still missing after installing libengine-gost-openssl"
}

# Packages every build needs: pingora's zlib-ng needs cmake; the signer
# needs OpenSSL's headers and the GOST engine.
need_build_deps() {
  need cmake cmake
  need pkg-config pkg-config
  need libssl-dev /usr/include/openssl/ssl.h
  need openssl openssl
  need gcc cc
}

# need_cargo CRATE VERSION COMMAND: a cargo subcommand the tests run
# (`cargo deb`, `cargo generate-rpm`), installed from crates.io at the
# given version when missing or different. Builds it: a couple of minutes
# the first time on a fresh machine.
need_cargo() {
  local crate=$1 version=$2 cmd=$3
  if cargo "$cmd" --version 2>/dev/null | grep -qF "$version"; then return 0; fi
  echo "esia-gate: installing $crate $version (cargo install, once)" >&2
  cargo install --locked --quiet --version "$version" "$crate" \
    || die "cargo install $crate failed: is crates.io reachable?"
}
