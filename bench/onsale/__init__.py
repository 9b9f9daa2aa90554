"""`make onsale`: a flash sale played around the service over Kafka (see __main__)."""
