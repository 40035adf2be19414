#!/usr/bin/env bash
# Cold start of the Space: seconds from `python app.py` to its page answering, offline.
#   bash bench/cold_start.sh [python]
set -u
cd "$(dirname "$0")/.."
python=${1:-.venv/bin/python}
port=${PORT:-7931}
export HF_HUB_OFFLINE=1 GRADIO_SERVER_PORT=$port GRADIO_ANALYTICS_ENABLED=False
start=$(date +%s.%N)
"$python" app.py > /tmp/hfselect_cold_start.log 2>&1 &
pid=$!
for _ in $(seq 1 1200); do
    if [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/")" = "200" ]; then
        echo "page served after $(echo "$(date +%s.%N) - $start" | bc) s"
        kill "$pid"
        exit 0
    fi
    sleep 0.1
done
echo "no page after 120 s; see /tmp/hfselect_cold_start.log"
kill "$pid"
exit 1
