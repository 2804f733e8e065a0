"""The account's lifecycle as its user drives it: change the password or the e-mail address, delete the
account, export its data (routes, schemas, service, export). Admin deletion ends accounts through
`service.erase` too."""
