# esia-gate %post: the system user, the configuration directory readable by
# the service's group only, systemd told about the unit. The unit is not
# enabled: the configuration needs the region's keys first.
systemd-sysusers /usr/lib/sysusers.d/esia-gate.conf || :
install -d -m 0750 -o root -g esia-gate /etc/esia-gate/keys || :
chown root:esia-gate /etc/esia-gate /etc/esia-gate/gateway.toml || :
chmod 0750 /etc/esia-gate || :
chmod 0640 /etc/esia-gate/gateway.toml || :
systemctl daemon-reload >/dev/null 2>&1 || :
