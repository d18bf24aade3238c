# esia-gate %postun: systemd forgets the removed unit.
systemctl daemon-reload >/dev/null 2>&1 || :
