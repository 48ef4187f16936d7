/** The few fengari (Lua 5.3 VM in JS) calls the Argo CD health-check test uses; it ships no types. */
declare module 'fengari' {
  type LuaState = { readonly __luaState: unique symbol };
  const fengari: {
    to_luastring(text: string): Uint8Array;
    lua: {
      LUA_OK: number;
      lua_pcall(L: LuaState, nargs: number, nresults: number, errfunc: number): number;
      lua_getfield(L: LuaState, index: number, key: Uint8Array): number;
      lua_tojsstring(L: LuaState, index: number): string;
    };
    lauxlib: {
      luaL_newstate(): LuaState;
      luaL_loadstring(L: LuaState, source: Uint8Array): number;
      luaL_dostring(L: LuaState, source: Uint8Array): number;
    };
    lualib: { luaL_openlibs(L: LuaState): void };
  };
  export default fengari;
}
