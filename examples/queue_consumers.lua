-- Two producers and three consumers around a bounded asyncio.Queue
-- (document 000).

local asyncio = require("asyncio")
local async, await = asyncio.async, asyncio.await

-- consumer
local consumer = async(function(q, n)
   print(('consumer %d: starting...'):format(n))
   while true do
      print(('consumer %d: prepare to get'):format(n))
      local item = await(q:get())
      print(('consumer %d: get %s'):format(n, item))
      await(asyncio.sleep(0.15))
      -- 完成一項工作,發送訊號給 queue,表示可再容納一個新的 task
      q:task_done()
   end
   print(('consumer %d: ending'):format(n))
end)

-- producer A
local producer_a = async(function(q, num_products)
   print('producer A: starting producer A...')
   for i = 0, num_products - 1 do
      await(q:put('A ' .. i))
      print(('producer A: create A %d'):format(i))
      await(asyncio.sleep(0.01))
   end
end)

-- producer B
local producer_b = async(function(q, num_products)
   print('producer B: starting producer B...')
   for i = 0, num_products - 1 do
      await(q:put('B ' .. i))
      print(('producer B: create B %d'):format(i))
      await(asyncio.sleep(0.02))
   end
end)

-- 任務調度
local main = async(function(num_consumers, num_products)
   -- 以 consumers 的數量為 queue size 上限,當 queue 裡面的 items 數量到達上限,就無法再放入 item
   local q = asyncio.Queue(num_consumers)

   -- 產生兩個 producer tasks,每一個 producer 都會產生 num_products 個 products,放入 q
   local prod_a = {asyncio.create_task(producer_a(q, num_products))}
   local prod_b = {asyncio.create_task(producer_b(q, num_products))}

   -- 產生
   local consumers = {}
   for i = 0, num_consumers - 1 do
      consumers[#consumers + 1] = asyncio.create_task(consumer(q, i))
   end

   -- 測試 coroutine 的 cancel
   -- await(asyncio.sleep(0.2))
   -- for _, c in ipairs(consumers) do
   --    c:cancel()
   -- end

   local producers = {table.unpack(prod_a)}
   table.move(prod_b, 1, #prod_b, #producers + 1, producers)
   await(asyncio.gather(table.unpack(producers)))
   print('producers All: ending')

   -- 表示 queue 裡面已經沒有 product tasks
   await(q:join())
   print('consumers All: ending')

   -- 以 cancel 確認將所有 consumers 取消,否則 consumer 會一直等待 queue
   for _, c in ipairs(consumers) do
      c:cancel()
   end
end)

-- main(消費者數量, products 數量)
asyncio.run(main(3, 4))
