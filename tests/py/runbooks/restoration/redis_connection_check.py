#!/usr/bin/env python3
# test_redis_connection.py

import redis
import ssl

# Configuration
ENDPOINT = "master.test-redis-new-67006b9f.lojl15.euc1.cache.amazonaws.com"
PORT = 6379
AUTH_TOKEN = "your-auth-token"

def test_connection():
    try:
        # Create SSL context
        ssl_context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
        ssl_context.check_hostname = False
        ssl_context.verify_mode = ssl.CERT_REQUIRED
        
        # Connect to Redis
        client = redis.Redis(
            host=ENDPOINT,
            port=PORT,
            password=AUTH_TOKEN,
            ssl=True,
            ssl_cert_reqs='required',
            ssl_ca_certs='/path/to/ca-cert.pem',
            ssl_context=ssl_context,
            decode_responses=True
        )
        
        # Test connection
        response = client.ping()
        print(f"✅ Connection successful: {response}")
        
        # Test basic operations
        client.set('test_key', 'test_value')
        value = client.get('test_key')
        print(f"✅ Read/Write test: {value}")
        
        # Get info
        info = client.info('server')
        print(f"Redis Version: {info.get('redis_version', 'Unknown')}")
        
        client.close()
        return True
        
    except Exception as e:
        print(f"❌ Connection failed: {str(e)}")
        return False

if __name__ == "__main__":
    test_connection()
