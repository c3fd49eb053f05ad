"""Small HTML pages tagmail serves to mail recipients (not the admin console)."""
