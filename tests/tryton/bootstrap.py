#!/usr/bin/env python3
"""Creates a fresh Tryton database for scrm's end-to-end tests.

Usage (with the python of the venv that holds trytond, see requirements.txt):

    python bootstrap.py DATA_DIR [--db NAME] [--listen 127.0.0.1:8000]
                                 [--password PASSWORD]

Steps:

1. writes DATA_DIR/trytond.conf: SQLite backend, databases under DATA_DIR
   (the database NAME is the file DATA_DIR/NAME.sqlite), web listen address;
2. creates the empty DATA_DIR/NAME.sqlite and runs
   `trytond-admin -c CONF -d NAME -u party sale stock_package_shipping
   --activate-dependencies` with the admin password read from a TRYTONPASSFILE
   (no prompt; the admin e-mail prompt is answered with an empty line): parties
   for the contacts, sales for the orders, and shipments with a carrier and a
   shipping reference (the tracking number) for the parcels;
3. creates a `res.user.application` record (application `rest`, user admin,
   state `validated`): its key is the bearer token of the REST API;
4. creates the currency EUR and the company "scrm shop" (zone Europe/Rome) and
   makes it admin's company: sales need one (REST calls that create them send
   `X-Tryton-Context: {"company": ID}`);
5. prints one JSON object on stdout:
   {"config": ..., "database": NAME, "database_file": ..., "key": ...,
    "company": ID, "login": "admin", "password": ..., "seconds": ...}

Everything else (trytond's logs) goes to stderr.
"""

import argparse
import decimal
import json
import os
import subprocess
import sys
import tempfile
import time

CONF = """\
[database]
uri = sqlite://
path = {path}

[web]
listen = {listen}
# Nothing to serve: keeps trytond from serving ~/www.
root = {path}/www
"""


def write_config(data_dir, listen):
    """Writes DATA_DIR/trytond.conf; its path."""
    conf = os.path.join(data_dir, 'trytond.conf')
    with open(conf, 'w') as f:
        f.write(CONF.format(path=data_dir, listen=listen))
    return conf


def create_company(pool, admin_user):
    """Creates EUR and the company "scrm shop", admin's company; its id."""
    Currency = pool.get('currency.currency')
    Party = pool.get('party.party')
    Company = pool.get('company.company')
    User = pool.get('res.user')
    eur, = Currency.create([{
                'name': 'Euro', 'code': 'EUR', 'symbol': '€',
                'rounding': decimal.Decimal('0.01'), 'digits': 2,
                }])
    party, = Party.create([{'name': 'scrm shop'}])
    company, = Company.create([{
                'party': party.id, 'currency': eur.id,
                'timezone': 'Europe/Rome',
                }])
    User.write([admin_user], {
            'companies': [('add', [company.id])],
            'company': company.id,
            })
    return company.id


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('data_dir')
    parser.add_argument('--db', default='scrm')
    parser.add_argument('--listen', default='127.0.0.1:8000')
    parser.add_argument('--password', default='admin-password-0123')
    args = parser.parse_args()

    started = time.monotonic()
    data_dir = os.path.abspath(args.data_dir)
    os.makedirs(data_dir, exist_ok=True)
    conf = write_config(data_dir, args.listen)
    db_file = os.path.join(data_dir, args.db + '.sqlite')
    # trytond's SQLite backend refuses to open a database file that does not exist.
    open(db_file, 'a').close()

    admin = os.path.join(os.path.dirname(sys.executable), 'trytond-admin')
    with tempfile.NamedTemporaryFile('w', suffix='.pass') as passfile:
        passfile.write(args.password + '\n')
        passfile.flush()
        env = dict(os.environ, TRYTONPASSFILE=passfile.name)
        subprocess.run(
            [admin, '-c', conf, '-d', args.db,
                '-u', 'party', 'sale', 'stock_package_shipping',
                '--activate-dependencies'],
            # The e-mail prompt of the first initialisation: none.
            input='\n', text=True, env=env, stdout=sys.stderr, check=True)

    # Import trytond only once it is configured.
    from trytond import config
    config.update_etc(conf)
    from trytond.pool import Pool
    from trytond.transaction import Transaction

    Pool.start()
    pool = Pool(args.db)
    with Transaction().start(args.db, 0, readonly=True):
        pool.init()
    with Transaction().start(args.db, 0) as transaction:
        User = pool.get('res.user')
        Application = pool.get('res.user.application')
        admin_user, = User.search([('login', '=', 'admin')])
        application, = Application.create([{
                    'user': admin_user.id,
                    'application': 'rest',
                    'state': 'validated',
                    }])
        key = application.key
        company = create_company(pool, admin_user)
        transaction.commit()

    json.dump({
            'config': conf,
            'database': args.db,
            'database_file': db_file,
            'key': key,
            'company': company,
            'login': 'admin',
            'password': args.password,
            'seconds': round(time.monotonic() - started, 2),
            }, sys.stdout)
    sys.stdout.write('\n')


if __name__ == '__main__':
    main()
