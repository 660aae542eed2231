# Streams scenario driven by redis-rb (Debian's ruby-redis 4.8).
#
# usage: ruby ruby_streams.rb PORT KEY_PREFIX
#
# 1. publishes 1000 entries to a fresh stream with XADD '*' inside `pipelined` blocks, then reads
#    XLEN and XRANGE - + back through redis-rb's own reply hashifiers;
# 2. two consumers in one group, each a thread with its own connection, read with XREADGROUP
#    count:/block: and XACK everything they get until the group has acked all 1000; then
#    XPENDING (summary), xinfo(:groups) and xinfo(:consumers);
# 3. replays from the 500th id: XRANGE "(id" + paged with count:, and XREAD from the id.
#
# Prints one JSON object on stdout; on any failure prints the reason on stderr and exits 1.
require 'json'
require 'redis'

N = 1000
BATCH = 200
READ_COUNT = 25
BLOCK_MS = 100
DEADLINE_S = 60.0

def fail!(message)
  $stderr.puts "ruby-redis scenario failed: #{message}"
  exit 1
end

def entry_fields(i)
  { 'seq' => i.to_s, 'payload' => "order-#{i}:" + ('x' * (i % 17)), 'tag' => 'é✓ "q" sp' }
end

def now
  Process.clock_gettime(Process::CLOCK_MONOTONIC)
end

def connect(port)
  Redis.new(host: '127.0.0.1', port: port, connect_timeout: 5, read_timeout: 10, write_timeout: 10,
            reconnect_attempts: 0)
end

def main
  fail!('usage: ruby ruby_streams.rb PORT KEY_PREFIX') unless ARGV.length == 2
  port = Integer(ARGV[0])
  key = "#{ARGV[1]}:orders"
  group = 'billing'
  started = now
  deadline = started + DEADLINE_S

  producer = connect(port)
  fail!("stream #{key} already exists") if producer.exists?(key)

  # 1. publish, pipelined per batch
  ids = []
  (0...N).each_slice(BATCH) do |slice|
    replies = producer.pipelined do |pipe|
      slice.each { |i| pipe.xadd(key, entry_fields(i), id: '*') }
    end
    ids.concat(replies)
  end
  xlen = producer.xlen(key)
  range = producer.xrange(key, '-', '+')
  info_stream = producer.xinfo(:stream, key)

  # 2. a consumer group with two consumers
  created = producer.xgroup(:create, key, group, '0')
  delivered = { 'c1' => [], 'c2' => [] }
  lock = Mutex.new
  acked_total = 0
  xack_sum = 0
  empty_reads = 0
  # Both consumers are connected before either reads, so the group really has two readers.
  clients = %w[c1 c2].to_h { |name| [name, connect(port)] }
  clients.each_value(&:ping)
  threads = clients.map do |name, client|
    Thread.new do
      begin
        loop do
          raise "#{name}: timed out with #{acked_total}/#{N} acked" if now > deadline

          reply = client.xreadgroup(group, name, key, '>', count: READ_COUNT, block: BLOCK_MS)
          messages = reply[key] || []
          if messages.empty?
            lock.synchronize { empty_reads += 1 }
            break if lock.synchronize { acked_total } >= N

            next
          end
          raise "#{name}: XREADGROUP replied for streams #{reply.keys.inspect}" unless reply.keys == [key]
          raise "#{name}: XREADGROUP count #{READ_COUNT} returned #{messages.size}" if messages.size > READ_COUNT

          messages.each do |id, fields|
            want = entry_fields(Integer(fields['seq']))
            raise "#{name}: entry #{id} has #{fields.inspect}, want #{want.inspect}" unless fields.to_a == want.to_a
          end
          batch = messages.map(&:first)
          n = client.xack(key, group, *batch)
          raise "#{name}: XACK of #{batch.size} ids returned #{n}" unless n == batch.size

          lock.synchronize do
            delivered[name].concat(batch)
            xack_sum += n
            acked_total += batch.size
          end
        end
      ensure
        client.close
      end
    end
  end
  threads.each(&:join)
  reack = producer.xack(key, group, ids[0])
  pending_summary = producer.xpending(key, group)
  info_groups = producer.xinfo(:groups, key)
  info_consumers = producer.xinfo(:consumers, key, group)

  # 3. replay from a mid-stream id
  from = ids[N / 2 - 1]
  paged = []
  pages = 0
  start = "(#{from}"
  while now < deadline
    page = producer.xrange(key, start, '+', count: 100)
    break if page.empty?

    pages += 1
    paged.concat(page.map(&:first))
    start = "(#{page.last.first}"
  end
  xread = producer.xread(key, from, count: N)
  xread_ids = (xread[key] || []).map(&:first)

  result = {
    client: 'ruby-redis',
    version: Redis::VERSION,
    ruby: RUBY_VERSION,
    stream: key,
    ids: ids,
    xlen: xlen,
    range: range,
    xinfo_stream: info_stream,
    group: {
      name: group,
      created: created,
      delivered: delivered,
      xack_sum: xack_sum,
      reack: reack,
      empty_reads: empty_reads,
      pending_summary: pending_summary,
      xinfo_groups: info_groups,
      xinfo_consumers: info_consumers.map { |c| { 'name' => c['name'], 'pending' => c['pending'] } }
    },
    replay: { from: from, xrange_exclusive_paged: paged, pages: pages, xread: xread_ids },
    elapsed_ms: ((now - started) * 1000).round
  }
  producer.close
  puts JSON.generate(result)
end

begin
  Thread.abort_on_exception = false
  main
rescue StandardError => e
  fail!("#{e.class}: #{e.message}\n#{e.backtrace.first(8).join("\n")}")
end
