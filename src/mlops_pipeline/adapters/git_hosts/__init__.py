"""Git hosts' push webhooks: the signature each host sends, verified before the body is read."""
