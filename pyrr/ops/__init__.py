"""Operating pyrr: service-manager notification (sd_notify) and address autodetection."""
