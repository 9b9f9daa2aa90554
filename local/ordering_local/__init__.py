"""The Docker-less local runner of the Ordering service (`ordering-local`). Never deployed."""
