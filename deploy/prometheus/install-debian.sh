#!/bin/sh
# Install promtool and prometheus from Debian's `prometheus` package (make test needs both).
# The package's postinst would start a system-wide Prometheus on :9090; a policy-rc.d that
# answers 101 ("action forbidden") keeps it from starting anything while apt runs.
set -eu

if command -v promtool >/dev/null 2>&1 && command -v prometheus >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" != 0 ]; then
    echo "promtool/prometheus missing: run 'sudo $0' (Debian's prometheus package)" >&2
    exit 1
fi

policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy"
    chmod 755 "$policy"
    # removed however the script ends: left behind it would keep apt from starting any service
    trap 'rm -f "$policy"' EXIT
    trap 'rm -f "$policy"; exit 130' INT TERM HUP
fi

export DEBIAN_FRONTEND=noninteractive
# wait for the apt lock rather than fail (first boot: unattended-upgrades may hold it)
apt="apt-get -o DPkg::Lock::Timeout=600"
if ! $apt install -y --no-install-recommends prometheus; then
    $apt update
    $apt install -y --no-install-recommends prometheus
fi
# No init system in containers; where there is one, keep the packaged daemon off as well.
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    systemctl disable --now prometheus >/dev/null 2>&1 || true
fi
promtool --version | head -1
