-- event.lua (document 004): two tasks wait for an event that a timer
-- callback sets.

local asyncio = require("asyncio")
local async, await = asyncio.async, asyncio.await

-- Python's str() of a boolean.
local function str(b)
   return b and 'True' or 'False'
end

local function set_event(event)
   print('setting event in callback')
   event:set()
end

local test = async(function(name, event)
   print(('%s waiting for event'):format(name))
   await(event:wait())
   print(('%s triggered'):format(name))
end)

local main = async(function(loop)
   local event = asyncio.Event()
   print(('event start state: %s'):format(str(event:is_set())))
   loop:call_later(0.1, set_event, event)
   await(asyncio.wait({test('e1', event), test('e2', event)}))
   print(('event end state: %s'):format(str(event:is_set())))
end)

local loop = asyncio.get_event_loop()
loop:run_until_complete(main(loop))
loop:close()
