-- A future made by hand and resolved by a call_soon callback (document 000).

local asyncio = require("asyncio")
local async, await = asyncio.async, asyncio.await

-- Python's {!r} of a string.
local function repr(s)
   return "'" .. s .. "'"
end

local function mark_done(future, result)
   print(('setting future result to %s'):format(repr(result)))
   future:set_result(result)
end

local main = async(function()
   local loop = asyncio.get_event_loop()
   local future = loop:create_future()
   print('scheduling mark_done')
   -- 在 event loop 呼叫 mark_done,mark_done 完成時,
   -- 會透過 future 物件的 set_result 將結果傳回來
   loop:call_soon(mark_done, future, 'the result')
   print('suspending the coroutine')
   local result = await(future)
   print(('awaited result: %s'):format(repr(result)))
   print(('future result: %s'):format(repr(future:result())))
   return result
end)

print('entering the event loop')
local result = asyncio.run(main())
print(('returned result: %s'):format(repr(result)))
