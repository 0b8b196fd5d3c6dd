"""Operations: container image, systemd unit and notification, logs, autodetection."""
